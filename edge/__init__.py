"""The edge server of MVStylizer (002): key frames stylized on a server near the phone, over HTTP."""

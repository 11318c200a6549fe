"""The one exception type whose message is meant for the user (one line: the problem and the fix)."""


class VstError(Exception):
    """A bad input or environment problem. CLIs print its message alone and exit non-zero."""

"""Progress bars, one policy for every command: tqdm on stderr; none when the caller asks for none; and off a
terminal (output sent to a log file or a CI console) one redraw every LOG_INTERVAL_S instead of several a second,
which left megabytes of carriage-returned redraws in logs."""
from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


def bar(*args, progress: bool = True, **kw) -> tqdm:
    if not progress:
        kw["disable"] = True
    elif not sys.stderr.isatty():
        kw.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(*args, **kw)

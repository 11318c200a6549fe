"""Progress bars, one policy for every command: tqdm on stderr; none when the caller asks for none; and off a
terminal (output sent to a log file or a CI console) one redraw every LOG_INTERVAL_S instead of several a second,
which left megabytes of carriage-returned redraws in logs, and no nested bar (position > 0): tqdm draws those by
moving the cursor up (ESC[A), which a log keeps as garbage inside the outer bar's lines."""
from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class Bar(tqdm):
    """tqdm whose postfix waits for the next timed redraw: tqdm's own set_postfix_str redraws at once, which
    bypassed the interval (vst-bench --compare set one per round, ten lines a second in a log)."""

    def set_postfix_str(self, s: str = "", refresh: bool = False) -> None:
        super().set_postfix_str(s, refresh=refresh)


def bar(*args, progress: bool = True, **kw) -> Bar:
    if not progress:
        kw["disable"] = True
    elif not sys.stderr.isatty():
        if kw.get("position", 0) > 0:
            kw["disable"] = True
        kw.setdefault("mininterval", LOG_INTERVAL_S)
        kw.setdefault("maxinterval", LOG_INTERVAL_S)   # tqdm's monitor thread forces a redraw every maxinterval
    return Bar(*args, **kw)

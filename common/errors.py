"""The one exception type whose message is meant for the user (one line: the problem and the fix)."""
import re

# terminal colour codes some libraries put in their messages (torch.onnx's export steps)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class VstError(Exception):
    """A bad input or environment problem. CLIs print its message alone and exit non-zero."""


class InternalError(Exception):
    """A broken invariant inside vst (a bug, not the user's input). CLIs say so and exit 70."""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception's first line (or its type's name when it has no text), for one-line messages."""
    text = _ANSI.sub("", str(exc)).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:limit] if limit else line

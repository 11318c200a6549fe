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


def excerpt(text: str | bytes, limit: int = 160) -> str:
    """A short, printable excerpt of text from outside (a server's reply body, say) for a one-line message:
    colour codes dropped, control and other unprintable characters as spaces, whitespace runs as one space,
    cut to `limit` characters."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _ANSI.sub("", text)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."

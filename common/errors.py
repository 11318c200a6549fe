"""The one exception type whose message is meant for the user (one line: the problem and the fix)."""


class VstError(Exception):
    """A bad input or environment problem. CLIs print its message alone and exit non-zero."""


class InternalError(Exception):
    """A broken invariant inside vst (a bug, not the user's input). CLIs say so and exit 70."""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception's first line (or its type's name when it has no text), for one-line messages."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:limit] if limit else line

"""The one exception type whose message is meant for the user (one line: the problem and the fix)."""


class VstError(Exception):
    """A bad input or environment problem. CLIs print its message alone and exit non-zero."""


class InternalError(Exception):
    """A broken invariant inside vst (a bug, not the user's input). CLIs say so and exit 70."""

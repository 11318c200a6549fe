"""Console-script plumbing: the entry wrapper (user errors become one line on stderr, exit code 2) and the
argument forms every vst command shares (WxH sizes, NAME=VALUE settings)."""
from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from vst.common.errors import InternalError, VstError
from vst.common.quiet import configure_environment, quiet_stderr

VERBOSE_FLAGS = ("-v", "--verbose")


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None,
            resumable: bool = False) -> int:
    """Run a command's main: user errors become one line and exit 2, internal errors say they are vst's bug
    (exit 70); `resumable` says whether rerunning the command picks up where it stopped (only those say so).
    From the console (argv None) third-party chatter is filtered unless -v/--verbose is given; every command
    takes that flag here, so parsers need not know it."""
    prog = sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "vst"
    configure_environment()
    console = argv is None
    args = list(sys.argv[1:] if console else argv)
    verbose = any(a in VERBOSE_FLAGS for a in args)
    args = [a for a in args if a not in VERBOSE_FLAGS]
    try:
        with quiet_stderr(verbose=verbose or not console):
            return int(main(args) or 0)
    except VstError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except InternalError as exc:
        print(f"{prog}: internal error (a bug in vst, not in your input; please report it with the command "
              f"line): {exc}", file=sys.stderr)
        return 70
    except BrokenPipeError:
        # the reader went away (`vst-predict --loo | head`): nothing is left to say to it. Python's documented
        # remedy: point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; " + ("finished results are kept, run the same command again to resume."
                                          if resumable else "outputs are written only on success: run it again."),
              file=sys.stderr)
        return 130


# Full-resolution activations of a stylizer hold 32-64 float channels and conversion keeps several alive for
# its verification photos: 4096x4096 already needs about 16 GB. Larger sizes are refused up front rather than
# exhausting memory minutes later.
MAX_PIXELS = 4096 * 4096


def check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise VstError(f"size {width}x{height} is over vst's limit of {MAX_PIXELS / 1e6:.1f} megapixels (e.g. "
                       "4096x4096), beyond which activations exceed about 16 GB of memory; give a smaller size")


def parse_size(text: str) -> tuple[int, int]:
    """'480x320' -> (480, 320): width first, as every vst command writes sizes."""
    try:
        w, h = (int(v) for v in text.strip().lower().split("x"))
    except ValueError:
        raise VstError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 480x320") from None
    if w < 1 or h < 1:
        raise VstError(f"size {text!r} must be positive")
    check_pixels(w, h)
    return w, h


def parse_assignments(items: Sequence[str], flag: str, example: str) -> dict[str, str]:
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; one-line error naming the flag for an item without '='."""
    out = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise VstError(f"{flag} takes NAME=VALUE (e.g. {example}), got {item!r}")
        out[key] = value
    return out

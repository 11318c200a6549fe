"""Console-script plumbing: the entry wrapper (user errors become one line on stderr, exit code 2; anything
else is vst's bug, exit 70) and the argument forms every vst command shares (WxH sizes, NAME=VALUE settings,
finite numbers within ranges, ports)."""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import traceback
from typing import Callable, Sequence

from vst.common.errors import InternalError, VstError, first_line
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
    if console:
        # `kill` (SIGTERM) ends a command as Ctrl-C does: Python runs no cleanup on SIGTERM by default, and
        # temporary files and half-written outputs would stay behind
        signal.signal(signal.SIGTERM, _terminated)
    try:
        with quiet_stderr(verbose=verbose or not console):
            return int(main(args) or 0)
    except VstError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except InternalError as exc:
        return _bug(prog, str(exc), verbose)
    except MemoryError:
        print(f"{prog}: error: out of memory; give a smaller size or fewer frames, or free memory", file=sys.stderr)
        return 2
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
    except Exception as exc:  # noqa: BLE001 - whatever escaped is a bug in vst: one line, not a traceback
        return _bug(prog, f"{type(exc).__name__}: {first_line(exc, 300)}", verbose)


def _terminated(signum, frame):
    raise KeyboardInterrupt


def _bug(prog: str, what: str, verbose: bool) -> int:
    if verbose:
        traceback.print_exc()
    print(f"{prog}: internal error (a bug in vst, not in your input; please report it with the command "
          f"line{'' if verbose else ' and the traceback -v prints'}): {what}", file=sys.stderr)
    return 70


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


# argparse types for numeric flags: NaN, infinities and values outside a flag's range are refused when the
# command line is read (argparse prints its usage and "argument --fps: ..."), never later as a traceback or a
# silently wrong run (a NaN learning rate, a port taken modulo 65536).

def number(kind: type = float, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> Callable[[str], float | int]:
    """An argparse type: a finite `kind` (int or float) in [low, high] ((low, high] with `low_open`)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text} must be {'above' if low_open else 'at least'} {low:g}"
                                             + (f" and at most {high:g}" if high is not None else ""))
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{text} must be at most {high:g}")
        return value
    parse.__name__ = kind.__name__        # argparse names the type in some of its messages
    return parse


# thread counts past this are a typo, and torch, onnxruntime or LiteRT fail on them in their own words
MAX_THREADS = 1024

positive_int = number(int, 1)
nonneg_int = number(int, 0)
threads = number(int, 1, MAX_THREADS)
seed = number(int, 0, 2**32 - 1)          # numpy's seed range, which torch's includes
fraction = number(float, 0, 1)
port_or_zero = number(int, 0, 65535)      # 0: the system picks a free port
# Adam's step size, on weights or on pixels in [0, 1]: past 1 they diverge within a few steps (--lr 1e308 wrote
# an all-NaN checkpoint)
MAX_LR = 1.0
learning_rate = number(float, 0, MAX_LR, low_open=True)
# loss weights: the presets reach 1e10 (Gatys' style weight); far beyond that float32 losses overflow
loss_weight = number(float, 0, 1e15)
# durations: time.sleep and asyncio timeouts overflow on huge values; a day bounds every wait vst has
MAX_SECONDS = 86400.0
seconds = number(float, 0, MAX_SECONDS)
positive_seconds = number(float, 0, MAX_SECONDS, low_open=True)


def size_arg(text: str) -> tuple[int, int]:
    """parse_size as an argparse type, so that a bad --size is refused with the usage line."""
    try:
        return parse_size(text)
    except VstError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def side_or_size_arg(text: str) -> tuple[int, int]:
    """An argparse type for sizes given as a square side (128) or WxH (480x320)."""
    if "x" in text.lower():
        return size_arg(text)
    try:
        side = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a side in pixels (128) or WxH (480x320)") from None
    if side < 1:
        raise argparse.ArgumentTypeError(f"{text} must be a positive side in pixels")
    return size_arg(f"{side}x{side}")


def command_line(parser: argparse.ArgumentParser, *positionals, **options) -> str:
    """The shell line that runs `parser`'s command with these values: each option spelled as the parser spells
    it (found by its dest), True as the bare flag, None and False left out, lists as repeated values; then parsed
    back by the parser, so that a record of commands (vst-run's commands.txt) cannot drift from the flags."""
    import shlex
    # argparse has no public lookup of an option by its dest: its action list is the only place that holds both
    flags = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}
    argv = [str(p) for p in positionals]
    for dest, value in options.items():
        if value is None or value is False:
            continue
        if dest not in flags:
            raise InternalError(f"{parser.prog} has no option for {dest!r}")
        argv.append(flags[dest])
        if value is not True:
            argv += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
    try:
        parser.parse_args(argv)
    except SystemExit:
        raise InternalError(f"{parser.prog} does not take the command line it was given: {argv}") from None
    return " ".join([parser.prog, *map(shlex.quote, argv)])

"""Entry wrapper for console scripts: user errors become one line on stderr and exit code 2."""
from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from vst.common.errors import VstError


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    prog = sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "vst"
    # TensorFlow's C++ info lines would drown the commands' own progress and results
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return int(main(argv) or 0)
    except VstError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished results are kept, run the same command again to resume.",
              file=sys.stderr)
        return 130

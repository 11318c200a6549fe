"""Third-party chatter, silenced at one place. TensorFlow, LiteRT, absl and torch's exporter write info lines
(oneDNN notices, "failed call to cuInit", XNNPACK delegate creation, converter flags, torchvision registration
warnings) straight to file descriptor 2, before any logging setting of theirs applies; so a command's stderr is
passed through a filter that drops those lines and forwards everything else. `-v` on any command keeps them."""
from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

# Searched anywhere in a line: a progress bar redraws without a newline, so chatter often follows it on one line.
CHATTER = re.compile(
    r"(WARNING: All log messages before absl::InitializeLog|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] |"
    r"INFO: Created TensorFlow Lite|INFO: Initialized TensorFlow Lite|fully_quantize: |"
    r"WARNING:absl:|WARNING:tensorflow:|Saved artifact at|Output Type:|Captures:|"
    r"Failed to load \S*torchao/_C|"      # torchao (litert-torch's) probing its CUDA kernels
    r"\[[\w.]+\.cpp:\d+\] |"                  # ExecuTorch's runtime (cpuinfo probes, thread pool resets)
    r"ODIE \[\w+\]: Loading function )")         # coreai-core's runtime, each time a function loads
LOGGERS = ("torch", "torch.onnx", "torch.export", "onnxscript", "tensorflow", "absl", "coremltools", "onnx2tf",
           "onnxruntime", "h5py", "jax", "flwr", "ray", "uvicorn", "litert_torch", "torchao")


def configure_environment() -> None:
    """Settings that must precede the third-party imports (one value everywhere)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextmanager
def quiet_stderr(verbose: bool = False) -> Iterator[None]:
    """Within the block, drop known third-party chatter from fd 2 and Python warnings/logging of third-party
    packages; with verbose=True, change nothing."""
    if verbose:
        yield
        return
    saved_levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    out_fd = os.dup(original)   # the forwarder's own copy: `original` is closed when the block ends

    def forward():
        with os.fdopen(read_end, "rb") as src, os.fdopen(out_fd, "wb", buffering=0) as dst:
            for line in src:
                found = CHATTER.search(line.decode("utf-8", "replace"))
                if found is None:
                    dst.write(line)
                elif found.start():   # keep what came before the chatter (a progress bar's redraw)
                    dst.write(line.decode("utf-8", "replace")[:found.start()].encode())

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)      # closes the pipe's last write end: the reader drains and ends
        os.close(original)
        thread.join(timeout=5)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)

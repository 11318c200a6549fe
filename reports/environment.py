"""What machine and software produced a report: shown so readers can reproduce or discount the figures."""
from __future__ import annotations

import platform
from importlib import metadata

import psutil

PACKAGES = ("vst", "torch", "onnx", "onnxruntime", "onnx2tf", "tensorflow", "ai-edge-litert", "coremltools")


def host_environment() -> list[tuple[str, str]]:
    from vst.common.hostinfo import cpu_name
    rows = [("host", platform.node()), ("os", platform.platform()), ("python", platform.python_version()),
            ("cpu", f"{cpu_name()}, {psutil.cpu_count(logical=True)} logical cores"),
            ("memory", f"{psutil.virtual_memory().total / 2**30:.1f} GiB")]
    for name in PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows

"""Writing the conversion report, the record later steps read: validation, tool versions, the sample PNGs beside
the artifact, the op histogram. Where it lies and how it is read back: vst.common.records."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

from vst.common import records
from vst.common.records import check_record, report_path, samples_dir

TOOLS = ("torch", "onnx", "onnxruntime", "onnxslim", "tensorflow", "ai-edge-litert", "coremltools", "executorch",
         "torchao", "numpy", "coreai-torch", "coreai-core")


def schema() -> dict:
    return records.schema("conversion-report")


def tool_versions() -> dict[str, str]:
    out = {}
    for t in TOOLS:
        try:
            out[t] = metadata.version(t)
        except metadata.PackageNotFoundError:
            out[t] = "not installed"
    return out


def validate(report: dict) -> None:
    check_record(report, schema(), "report")


def op_histogram(op_names) -> dict[str, int]:
    """Op name -> count, sorted by name: the form every report shows."""
    from collections import Counter
    return dict(sorted(Counter(op_names).items()))


def write(report: dict, artifact: Path) -> Path:
    return records.write_record(report_path(artifact), report, "conversion-report", indent=2)


def write_samples(artifact: Path, names: tuple[str, ...], outputs_nchw) -> dict[str, str]:
    """Store the artifact's outputs (NCHW [0, 1]) as `<artifact>.samples/<photo>.png`; name -> relative path."""
    import numpy as np
    from vst.common.images import save_png
    folder = samples_dir(artifact)
    folder.mkdir(exist_ok=True)
    out = {}
    for name, y in zip(names, outputs_nchw):
        save_png(folder / f"{name}.png",
                 (np.clip(np.asarray(y, np.float32).transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8))
        out[name] = f"{folder.name}/{name}.png"
    return out

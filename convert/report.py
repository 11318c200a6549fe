"""The conversion report: schema, validation, tool versions, and writing it beside the artifact."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_text

TOOLS = ("torch", "onnx", "onnxruntime", "onnxslim", "tensorflow", "ai-edge-litert", "coremltools", "numpy")


@lru_cache(maxsize=None)
def schema() -> dict:
    return json.loads(resources.files("vst.convert").joinpath("schemas/convert_report.schema.json").read_text())


def tool_versions() -> dict[str, str]:
    out = {}
    for t in TOOLS:
        try:
            out[t] = metadata.version(t)
        except metadata.PackageNotFoundError:
            out[t] = "not installed"
    return out


def validate(report: dict) -> None:
    import jsonschema
    try:
        jsonschema.validate(report, schema())
    except jsonschema.ValidationError as exc:
        raise VstError(f"internal: report does not match its schema at {list(exc.absolute_path)}: "
                       f"{exc.message[:200]}") from None


def report_path(artifact: Path) -> Path:
    return Path(f"{artifact}.report.json")


def write(report: dict, artifact: Path) -> Path:
    validate(report)
    path = report_path(artifact)
    atomic_write_text(path, json.dumps(report, indent=2, sort_keys=False) + "\n")
    return path

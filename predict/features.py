"""What the device predictor knows about a model at one input size, counted from the PyTorch module, and how
a user's MODEL_OR_ARTIFACT (any model name vst.models.resolver resolves, or a conversion report) becomes that
module."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vst.common.errors import VstError
from vst.common.records import CONVERSION_REPORT_SUFFIX, report_path
from vst.models.profile import count_macs, count_params

# Phones run convolutions on vector units that take channels in groups; a 3- or 4-channel layer pays for a
# whole group. 8 is the group size whose padded MAC count explains Table II best (docs/predict.md: compared
# with 1, 4 and 16 on the leave-one-out error; the choice is the one thing chosen on all rows).
CHANNEL_GROUP = 8
BYTES_PER_VALUE = 4  # activations counted in fp32, as the paper's Core ML models computed
# the predictor's inputs, in the order of its coefficients (after the constant term)
FEATURES = ("macs_grouped", "activation_bytes", "layers")
FEATURE_LABELS = {"macs_grouped": "MACs (channels in groups of 8)", "activation_bytes": "activation bytes",
                  "layers": "layers"}


@dataclass(frozen=True)
class ModelFeatures:
    name: str
    arch: str | None
    config: dict
    width: int
    height: int
    params: int
    macs: int
    macs_grouped: int
    activation_bytes: int
    layers: int
    op_mix: dict  # layer type -> count

    def vector(self) -> list[float]:
        return [float(getattr(self, f)) for f in FEATURES]


def _leaf_outputs(model: nn.Module, width: int, height: int) -> tuple[int, int, dict]:
    """Output bytes summed over every leaf module call, the number of calls, and calls per module type
    (`model` on the meta device: shapes only, no arithmetic)."""
    total, calls, mix = 0, 0, {}

    def hook(mod, inputs, output):
        nonlocal total, calls
        total += output.numel() * BYTES_PER_VALUE
        calls += 1
        mix[type(mod).__name__] = mix.get(type(mod).__name__, 0) + 1

    hooks = [m.register_forward_hook(hook) for m in model.modules() if not any(True for _ in m.children())]
    with torch.no_grad():
        model(torch.empty(1, 3, height, width, device="meta"))
    for h in hooks:
        h.remove()
    return total, calls, mix


def model_features(model: nn.Module, width: int, height: int, name: str | None = None) -> ModelFeatures:
    # one meta copy for all counts (count_macs copies again only what is not on meta yet: nothing)
    meta = copy.deepcopy(model).to("meta")
    act, layers, mix = _leaf_outputs(meta, width, height)
    return ModelFeatures(name=name or getattr(model, "arch", type(model).__name__), arch=getattr(model, "arch", None),
                         config=dict(getattr(model, "config", {}) or {}), width=width, height=height,
                         params=count_params(model), macs=count_macs(meta, width, height),
                         macs_grouped=count_macs(meta, width, height, CHANNEL_GROUP), activation_bytes=act,
                         layers=layers, op_mix=mix)


def zoo_features(name: str, width: int, height: int) -> ModelFeatures:
    from vst.models import create_model
    return model_features(create_model(name), width, height, name)


def zoo_names(rows) -> list[str | None]:
    """The zoo configuration behind each vst-bench results row (a pandas DataFrame), or None: its model name
    when that is a zoo name, else the configuration of the same architecture and parameter count (how a
    checkpoint of a zoo layout is recognised; the report matches Table II rows the same way)."""
    from vst.models import NAMED_CONFIGS, create_model, list_models
    by_params = {(arch, count_params(create_model(name))): name for name, (arch, _) in NAMED_CONFIGS.items()}
    names = []
    for _, row in rows.iterrows():
        model_name, params = row.get("model_name"), row.get("params")
        if isinstance(model_name, str) and model_name in list_models():
            names.append(model_name)
        else:
            try:
                names.append(by_params.get((row.get("arch"), int(float(params)))))
            except (TypeError, ValueError):
                names.append(None)  # no parameter count recorded (an artifact without its report)
    return names


@dataclass(frozen=True)
class Source:
    """A model the predictor can count: its module, or the .tflite/.onnx whose graph it counts (`artifact`); a
    label, the input size its artifact fixes (if any), a note for the console when the module stands in for the
    model given (a graph counted as its zoo layout), and the precision its conversion report names."""
    label: str
    model: nn.Module | None
    size: tuple[int, int] | None
    note: str | None = None
    artifact: Path | None = None
    precision: str | None = None


# artifacts whose own graph vst-predict counts (vst.predict.graph); other forms are counted from their modules
GRAPH_FORMS = ("tflite", "onnx")
GRAPH_SUFFIXES = tuple(f".{f}" for f in GRAPH_FORMS)
# what the predictor lacks for a torch model that is not a vst architecture: a graph it can read
NO_GRAPH_COUNT = ("vst-predict counts a torch model's modules only for vst architectures; convert it with "
                  "vst-convert and give the .tflite or .onnx, whose graph it counts")


def report_precision(rep: dict) -> str:
    """fp32, fp16, int8 or int8-dynamic, as a conversion report records it."""
    dynamic = isinstance(rep.get("quantization"), dict) and "dynamic" in rep["quantization"]
    return "int8-dynamic" if rep.get("quant") == "int8" and dynamic else str(rep.get("quant"))


def _from_report(report_path: Path, label: str) -> Source:
    from vst.common.cli import MAX_PIXELS
    from vst.common.records import read_record, schema
    from vst.models import create_model, list_models
    fix = "convert the model again with vst-convert, or predict from its checkpoint or zoo name"
    rep = read_record(report_path, schema("conversion-report"), "a vst-convert report", fix)
    src, (w, h) = rep["source"], (rep["size"]["width"], rep["size"]["height"])
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise VstError(f"{report_path}: size {w}x{h} is not an image size vst converts; {fix}")
    precision = report_precision(rep)
    artifact = report_path.with_name(report_path.name[:-len(CONVERSION_REPORT_SUFFIX)])
    if artifact.suffix.lower() in GRAPH_SUFFIXES and artifact.is_file():
        return Source(label, None, (w, h), artifact=artifact, precision=precision)   # its own graph
    try:
        if src.get("arch"):
            return Source(label, create_model(src["arch"], **src.get("config", {})), (w, h), precision=precision)
        if src["name"] in list_models():
            return Source(label, create_model(src["name"]), (w, h), precision=precision)
    except VstError as exc:  # the zoo's own check of the architecture and its configuration
        raise VstError(f"{report_path}: {exc}") from None
    raise VstError(f"{label}: its source ({src['kind']} {Path(str(src['name'])).name}) is not a vst architecture "
                   f"and {NO_GRAPH_COUNT}")


def resolve_source(spec: str) -> Source:
    """Any model name vst.models.resolver resolves, or a conversion report (*.report.json): a vst architecture
    (zoo name, shipped tag, checkpoint) is counted from its modules; TorchScript or a .pt2 whose weights have
    exactly a named zoo configuration's names and shapes counts as that configuration; a .tflite or .onnx from
    its own graph (a report beside it, or given, adds its precision); another artifact (.pte, .mlpackage)
    through vst-convert's `<artifact>.report.json` beside it."""
    from vst.models import create_model
    from vst.models.resolver import VST_FORMS, resolve_model, same_layout_config
    path = Path(spec)
    if path.is_file() and path.name.endswith(CONVERSION_REPORT_SUFFIX):
        return _from_report(path, path.name[:-len(CONVERSION_REPORT_SUFFIX)])
    if path.suffix.lower() in GRAPH_SUFFIXES and report_path(path).exists():
        return _from_report(report_path(path), path.name)   # the report first: a damaged one is named
    handle = resolve_model(spec).require("vst-predict")
    if handle.form in GRAPH_FORMS:
        return Source(handle.label, None, None, artifact=handle.path)
    if handle.form in VST_FORMS:
        return Source(handle.path.stem if handle.form == "checkpoint" else handle.label, handle.module(), None)
    if handle.form in ("torchscript", "exported_program"):
        same = same_layout_config(handle.module())
        if same is None:
            raise VstError(f"{handle.label} is {handle.what} whose weights match no vst zoo configuration; "
                           f"{NO_GRAPH_COUNT}")
        size = None
        if handle.form == "exported_program":
            from vst.runtimes.pytorch import exported_input_spec
            size = exported_input_spec(handle).size
        return Source(handle.label, create_model(same), size,
                      f"{handle.label}: {handle.what}, counted as {same} (the same weight names and shapes; "
                      "its weights' names and shapes are all vst-predict reads from it)")
    report = report_path(path)
    if report.exists():
        return _from_report(report, path.name)
    raise VstError(f"{path.name}: no {report.name} beside it, so its architecture is unknown and vst-predict "
                   "counts graphs of .tflite and .onnx files only; give the .tflite or .onnx, or the checkpoint or "
                   "zoo name it was converted from (or keep vst-convert's report next to it)")

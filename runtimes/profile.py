"""Per-op time of a TFLite artifact on this machine: each operator cut out into a one-op model and timed alone.

Why this way: the LiteRT Python interpreter has no op profiler, and with XNNPACK the whole graph is one DELEGATE
node, so timing from outside sees one number. A one-op model with the op's own weights, shapes and
quantization runs through the same delegate and thread count as the whole file. Limits, reported with every
profile: each op pays one invoke's overhead (tens of microseconds), reads its input cold rather than from its
producer's cache, and XNNPACK cannot fuse across ops it sees alone; `sum_over_whole` (sum of the op times over
the whole model's time, both measured in the same run) says how far the parts are from the whole.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vst.common.errors import VstError


def _schema():
    # the flatbuffer schema's object API: LiteRT ships none, TensorFlow (a vst dependency) does
    from tensorflow.lite.python import schema_py_generated as schema
    return schema


def _load(model: str | Path | bytes):
    schema = _schema()
    data = bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    try:
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    except Exception:
        raise VstError(f"{'the model' if isinstance(model, (bytes, bytearray)) else model} is not a TFLite "
                       "flatbuffer; profile a .tflite written by vst-convert") from None
    return schema, m


def _pack(schema, m) -> bytes:
    import flatbuffers
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _opname(schema, m, op) -> str:
    code = m.operatorCodes[op.opcodeIndex]
    num = max(code.builtinCode, code.deprecatedBuiltinCode)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(num, f"OP{num}")


def invoker(data: bytes, threads: int = 2):
    """A callable running the TFLite file `data` once (inputs random, fixed) through LiteRT + XNNPACK: what the
    profile times, for any file (inputs of any shape, which a stylizer session refuses)."""
    from vst.runtimes.litert import _interpreter
    it = _interpreter(data, threads, "xnnpack")
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        dt = np.dtype(d["dtype"])
        v = rng.integers(-100, 100, d["shape"]).astype(dt) if dt.kind == "i" else \
            rng.random(d["shape"]).astype(dt)
        it.set_tensor(d["index"], v)
    return it.invoke


def _best(fn, runs: int) -> tuple[float, float]:
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.min(ts)), float(np.median(ts))


def _macs(schema, m, sg, op, name: str) -> int | None:
    if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):
        return None
    w = sg.tensors[op.inputs[1]].shape            # OHWI (conv), 1HWO (depthwise), OHWI (transpose conv)
    out = sg.tensors[op.outputs[0]].shape         # NHWC
    if name == "CONV_2D":
        return int(np.prod(out[:3]) * w[0] * w[1] * w[2] * w[3])
    if name == "DEPTHWISE_CONV_2D":
        return int(np.prod(out) * w[1] * w[2])
    inp = sg.tensors[op.inputs[2]].shape
    return int(np.prod(inp[:3]) * w[0] * w[1] * w[2] * w[3])


def profile(model: str | Path | bytes, threads: int = 2, runs: int = 10) -> dict:
    """Per-op latency (best and median of `runs`, after one warm-up) of every operator of a TFLite file, each
    timed alone through LiteRT + XNNPACK with `threads` threads, and the whole file timed in the same run.

    Returns {"ops": [{"index", "op", "name", "shape", "dtype", "macs", "ms", "ms_median", "share"}],
    "by_op": {op: ms}, "whole_ms", "sum_ms", "sum_over_whole", "threads", "runs", "method", "limits"}.
    """
    if runs < 1:
        raise VstError("profile runs must be at least 1")
    schema, m = _load(model)
    if len(m.subgraphs) != 1:
        raise VstError(f"the model has {len(m.subgraphs)} subgraphs; the profiler takes single-graph files")
    sg = m.subgraphs[0]
    whole_data = _pack(schema, m) if not isinstance(model, (bytes, bytearray)) else bytes(model)
    ops, inputs, outputs, sigs = list(sg.operators), sg.inputs, sg.outputs, m.signatureDefs
    produced = {int(o) for op in ops for o in op.outputs}

    def constant(t: int) -> bool:
        buf = m.buffers[sg.tensors[t].buffer] if sg.tensors[t].buffer else None
        return t not in produced and t not in set(int(i) for i in inputs) and buf is not None and \
            (buf.data is not None and len(buf.data) > 0 or bool(getattr(buf, "size", 0)))

    rows = []
    m.signatureDefs = None   # the one-op graphs have other inputs and outputs than the signature names
    try:
        for k, op in enumerate(ops):
            name = _opname(schema, m, op)
            sg.operators = [op]
            sg.inputs = [int(t) for t in op.inputs if t >= 0 and not constant(int(t))]
            sg.outputs = [int(t) for t in op.outputs]
            rows.append((k, name, op, invoker(_pack(schema, m), threads)))
    finally:
        sg.operators, sg.inputs, sg.outputs, m.signatureDefs = ops, inputs, outputs, sigs
    whole = invoker(whole_data, threads)
    # the whole file is timed before and after the ops, so a load change during the profile shows in whole_ms
    out = []
    whole_best, whole_med = _best(whole, runs)
    for k, name, op, fn in rows:
        best, med = _best(fn, runs)
        t = sg.tensors[op.outputs[0]]
        out.append({"index": k, "op": name, "name": (t.name or b"").decode(errors="replace"),
                    "shape": [int(s) for s in t.shape], "dtype": _dtype(schema, t.type),
                    "macs": _macs(schema, m, sg, op, name), "ms": round(best * 1e3, 4),
                    "ms_median": round(med * 1e3, 4)})
    wb2, wm2 = _best(whole, runs)
    whole_best, whole_med = min(whole_best, wb2), (whole_med + wm2) / 2
    total = sum(r["ms"] for r in out)
    for r in out:
        r["share"] = round(r["ms"] / total, 4) if total else 0.0
    by_op: dict[str, float] = {}
    for r in out:
        by_op[r["op"]] = by_op.get(r["op"], 0.0) + r["ms"]
    return {"ops": out, "by_op": {k: round(v, 3) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
            "whole_ms": round(whole_best * 1e3, 3), "whole_ms_median": round(whole_med * 1e3, 3),
            "sum_ms": round(total, 3), "sum_over_whole": round(total / (whole_best * 1e3), 3),
            "threads": threads, "runs": runs, "runtime": "litert+xnnpack",
            "method": "each operator cut out into a one-op model (same weights, shapes, quantization) and timed "
                      "alone; best of runs after one warm-up",
            "limits": "per-op figures include one invoke's overhead, read inputs cold and see no cross-op fusion; "
                      "sum_over_whole compares them with the whole file timed in the same run"}


def _dtype(schema, code: int) -> str:
    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    return names.get(code, str(code)).lower()


def summary(prof: dict, n: int = 12) -> dict:
    """What a conversion report keeps: everything but the per-op list, which is cut to the n slowest ops."""
    return {**{k: v for k, v in prof.items() if k != "ops"}, "ops": top(prof, n), "ops_total": len(prof["ops"])}


def top(prof: dict, n: int = 10) -> list[dict]:
    """The n ops taking the most time, largest first."""
    return sorted(prof["ops"], key=lambda r: -r["ms"])[:n]


def format_table(prof: dict, n: int = 15) -> str:
    lines = [f"whole model {prof['whole_ms']:.2f} ms (best of {prof['runs']}, {prof['threads']} threads, "
             f"{prof['runtime']}); sum of ops alone {prof['sum_ms']:.2f} ms ({prof['sum_over_whole']:.2f}x the whole)",
             f"{'#':>4} {'op':<20} {'ms':>8} {'share':>6} {'GMAC/s':>7}  output  name"]
    for r in top(prof, n):
        rate = f"{r['macs'] / r['ms'] / 1e6:.1f}" if r["macs"] and r["ms"] else ""
        lines.append(f"{r['index']:>4} {r['op']:<20} {r['ms']:>8.3f} {r['share'] * 100:>5.1f}% {rate:>7}  "
                     f"{'x'.join(map(str, r['shape']))} {r['dtype']}  {r['name'][:60]}")
    lines.append("by op type: " + ", ".join(f"{k} {v:.2f} ms" for k, v in prof["by_op"].items()))
    lines.append(f"method: {prof['method']}; limits: {prof['limits']}")
    return "\n".join(lines)

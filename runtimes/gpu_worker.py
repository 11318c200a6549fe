"""The process that holds LiteRT's GPU accelerator for vst.runtimes.gpu (run as `python -m vst.runtimes.gpu_worker`).

A process of its own because the accelerator cannot share one with TensorFlow (loading both crashes: measured with
ai-edge-litert 2.3 and tensorflow 2.21), which vst-convert has loaded, and because a crash in a Vulkan driver must
end a check, not the command. Its native libraries print to stdout and stderr: stdout is sent to stderr at start,
and the parent keeps stderr in a log file, never on its terminal (the adapter's name is read from it).

Protocol on stdin/stdout, one request at a time: a JSON line; an array follows its line as raw bytes, the line
giving its "dtype" and "shape" (a pipe cannot take numpy's file writer).
  {"op": "open", "path": P, "cpu_fallback": B}  ->  {"ok", "id", "fully_accelerated", "load_ms", "input", "output"}
  {"op": "run", "id": I, dtype, shape} + array   ->  {"ok", "ms", dtype, shape} + array
  {"op": "close", "id": I}                       ->  {"ok"}
  {"op": "probe", "paths": [P, ...]}             ->  {"ok", "taken": [true|false, ...]}
Errors answer {"ok": false, "error": "..."} and the worker goes on.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

SIGNATURE = 0


def _compile(path: str, cpu_fallback: bool):
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator as HA
    return CompiledModel.from_file(path, hardware_accel=HA.GPU | HA.CPU if cpu_fallback else HA.GPU)


class _Model:
    def __init__(self, path: str, cpu_fallback: bool):
        t0 = time.perf_counter()
        self.m = _compile(path, cpu_fallback)
        self.load_ms = (time.perf_counter() - t0) * 1000
        key = self.m.get_signature_list()
        key = next(iter(key)) if key else SIGNATURE
        ins, outs = self.m.get_input_tensor_details(key), self.m.get_output_tensor_details(key)
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(f"the GPU check takes models of one input and one output, not {len(ins)} and "
                             f"{len(outs)}")
        self.inp, self.out = next(iter(ins.values())), next(iter(outs.values()))
        self.ib, self.ob = self.m.create_input_buffers(SIGNATURE), self.m.create_output_buffers(SIGNATURE)

    def describe(self) -> dict:
        return {"fully_accelerated": bool(self.m.is_fully_accelerated()), "load_ms": round(self.load_ms, 2),
                "input": {k: self.inp[k] for k in ("name", "dtype", "shape")},
                "output": {k: self.out[k] for k in ("name", "dtype", "shape")}}

    def run(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        x = np.ascontiguousarray(x, dtype=self.inp["dtype"])
        if list(x.shape) != list(self.inp["shape"]):
            raise ValueError(f"input shape {list(x.shape)} is not the model's {self.inp['shape']}")
        t0 = time.perf_counter()
        self.ib[0].write(x.ravel())
        self.m.run_by_index(SIGNATURE, self.ib, self.ob)
        n = int(np.prod(self.out["shape"]))
        y = self.ob[0].read(n, np.dtype(self.out["dtype"])).reshape(self.out["shape"])   # waits for the GPU
        return y, (time.perf_counter() - t0) * 1000


def _taken(path: str) -> bool:
    """Whether the GPU alone takes the whole model (it refuses at compile time when an op would stay on the CPU)."""
    try:
        return bool(_compile(path, cpu_fallback=False).is_fully_accelerated())
    except RuntimeError:
        return False


def read_array(stream, meta: dict) -> np.ndarray:
    dtype, shape = np.dtype(meta["dtype"]), [int(d) for d in meta["shape"]]
    n = int(np.prod(shape)) * dtype.itemsize
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"{len(data)} of {n} bytes")
    return np.frombuffer(data, dtype).reshape(shape)


def array_header(a: np.ndarray) -> dict:
    return {"dtype": a.dtype.str, "shape": list(a.shape)}


def serve(inp, out) -> None:
    models: dict[int, _Model] = {}
    opened = 0      # ids are never reused: a late close of an old id must not close a newer model

    def answer(obj: dict, array: np.ndarray | None = None) -> None:
        if array is not None:
            obj = {**obj, **array_header(array)}
        out.write((json.dumps(obj) + "\n").encode())
        if array is not None:
            out.write(np.ascontiguousarray(array).tobytes())
        out.flush()

    while True:
        line = inp.readline()
        if not line:
            return
        req = json.loads(line)
        try:
            if req["op"] == "run":
                x = read_array(inp, req)
                if req.get("id") not in models:
                    raise ValueError(f"no model {req.get('id')} is open")
                y, ms = models[req["id"]].run(x)
                answer({"ok": True, "ms": round(ms, 3)}, y)
            elif req["op"] == "open":
                model = _Model(req["path"], bool(req.get("cpu_fallback")))
                opened += 1
                models[opened] = model
                answer({"ok": True, "id": opened, **model.describe()})
            elif req["op"] == "close":
                models.pop(req.get("id"), None)
                answer({"ok": True})
            elif req["op"] == "probe":
                answer({"ok": True, "taken": [_taken(p) for p in req["paths"]]})
            else:
                answer({"ok": False, "error": f"unknown request {req['op']!r}"})
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            answer({"ok": False, "error": " ".join(str(exc).split())[:400]})


def main() -> None:
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)       # the native libraries' prints go to the log, never into the protocol
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, proto)


if __name__ == "__main__":
    main()

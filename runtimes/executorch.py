"""ExecuTorch (.pte) on this machine through its Python runtime, with the XNNPACK delegate the program carries: the
program's own input spec, and what ran outside the delegate read from the program itself."""
from __future__ import annotations

from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np

from vst.common.errors import VstError, first_line
from vst.runtimes.delegation import Delegation
from vst.runtimes.spec import TensorSpec, image_spec

# ExecuTorch's ScalarType codes (c10's numbering) for the dtypes an image model takes or gives
SCALAR_TYPES = {0: "uint8", 1: "int8", 5: "float16", 6: "float32"}


def _read(model: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "the program"
    path = Path(model)
    if not path.is_file():
        raise VstError(f"{path} does not exist; give a .pte written by vst-convert --to executorch")
    return path.read_bytes(), str(path)


def plan(data: bytes, what: str):
    """The program's first execution plan (its operators, delegate calls and instruction chain), read from the
    flatbuffer without running it."""
    from executorch.exir._serialize._program import deserialize_pte_binary
    try:
        return deserialize_pte_binary(data).program.execution_plan[0]
    except Exception as exc:  # flatbuffer decoding raises assorted types on damaged files
        raise VstError(f"{what} is truncated or not an ExecuTorch program ({first_line(exc, 160)}); convert it "
                       "again with vst-convert --to executorch") from None


def _spec(p, what: str) -> TensorSpec:
    """The image input's spec from the plan's input value (its fixed sizes and scalar type)."""
    if len(p.inputs) != 1:
        raise VstError(f"{what} takes {len(p.inputs)} inputs; vst runs ExecuTorch programs with one image input")
    t = p.values[p.inputs[0]].val
    code = int(getattr(t, "scalar_type", -1))
    if not hasattr(t, "sizes") or code not in SCALAR_TYPES:
        raise VstError(f"{what}: its input is not an image tensor (ExecuTorch value {type(t).__name__}, scalar type "
                       f"{code})")
    return image_spec("input", [int(d) for d in t.sizes], SCALAR_TYPES[code], what)


def input_spec(model: str | Path | bytes) -> TensorSpec:
    """The image input's spec, read from the program without loading it."""
    data, what = _read(model)
    return _spec(plan(data, what), what)


def program_delegation(p) -> Delegation:
    """What the program runs where: each delegate call is one delegated subgraph; each kernel call is an op left to
    ExecuTorch's portable kernels, outside every delegate."""
    calls = [(i, type(ins.instr_args).__name__, ins.instr_args) for i, ins in enumerate(p.chains[0].instructions)]
    backends = sorted({d.id for d in p.delegates})
    outside = [{"op": p.operators[a.op_index].name, "node": i} for i, kind, a in calls if kind == "KernelCall"]
    subgraphs = sum(kind == "DelegateCall" for _, kind, _ in calls)
    names = ", ".join(b.removesuffix("Backend").lower() for b in backends) or "no delegate"
    ops = sorted({o["op"] for o in outside})
    detail = (f"{names} ({subgraphs} delegated subgraph{'s' * (subgraphs != 1)}, "
              + (f"{len(outside)} op(s) on portable kernels: {', '.join(ops)})" if outside else "no op outside)"))
    return Delegation("executorch", "xnnpack", detail=detail, not_delegated=outside)


class ExecuTorchSession:
    runtime = "executorch"

    def __init__(self, model: str | Path | bytes, threads: int | None = 2, profile: bool = False):
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime
        data, what = _read(model)
        p = plan(data, what)
        if any(d.id == "CoreMLBackend" for d in p.delegates):
            raise VstError(f"{Path(what).name} is an ExecuTorch program with the Core ML delegate: it runs on macOS "
                           "and iPhones only (ExecuTorch's Core ML backend); convert with --to executorch for "
                           "the XNNPACK program this machine runs")
        if threads and portable_lib._threadpool_get_thread_count() != int(threads):
            # one pool for the process: ExecuTorch's XNNPACK delegate takes its threads from it. Reset only when
            # the count changes: a reset replaces the pool under every program already loaded
            portable_lib._unsafe_reset_threadpool(int(threads))
        try:
            self.program = Runtime.get().load_program(data, enable_etdump=profile)
            self.method = self.program.load_method("forward")
        except Exception as exc:  # the runtime raises RuntimeError variants on programs it cannot load
            raise VstError(f"{what}: ExecuTorch cannot load the program ({first_line(exc, 160)}); convert it "
                           "again with vst-convert --to executorch") from None
        self.input = _spec(p, what)
        self.name = Path(what).name
        self.output_quant = (0.0, 0)       # vst's programs take and give float; int8 stays inside the delegate
        self.version = version("executorch")
        self.delegation = program_delegation(p)

    def extra_inputs(self) -> dict[str, tuple[int, ...]]:
        return {}

    def run(self, x: np.ndarray, feeds: dict | None = None) -> np.ndarray:
        import torch
        if feeds:
            raise VstError(f"an ExecuTorch program here takes the image only, not {', '.join(feeds)}")
        with one_torch_thread():
            try:
                return self.method.execute([torch.from_numpy(np.ascontiguousarray(x))])[0].numpy()
            except RuntimeError as exc:   # loaded, but a kernel refused its inputs (ExecuTorch's error code)
                raise VstError(f"{self.name}: ExecuTorch loaded the program but could not run it "
                               f"({first_line(exc, 160)}); convert it again with vst-convert --to executorch") \
                    from None


@contextmanager
def one_torch_thread():
    """PyTorch's own thread pool held to one thread around a call into ExecuTorch's Python binding. The binding
    copies the input and output tensors with PyTorch, which hands a frame-sized copy to its OpenMP threads; they
    then spin-wait after it and take the cores from XNNPACK's pool: 20 multiply/add ops on a 320x240x3 frame cost
    7.9 ms of CPU a call with PyTorch's two threads and 1.2 ms with one (the ops themselves 0.6 ms, ETDump), and
    kunster-t2-15 320x240 16.7 ms against 10.6 ms. A phone's C++ runner makes no such copy."""
    import torch
    n = torch.get_num_threads()
    if n != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n != 1:
            torch.set_num_threads(n)


def profile(model: str | Path | bytes, threads: int = 2, runs: int = 10) -> dict:
    """Per-op time of the delegated graph from ExecuTorch's own event tracer: the program run `runs` times (after
    one warm-up) with ETDump on, read back by ExecuTorch's Inspector, which lists every XNNPACK operator the delegate
    ran with its time in each run. The same record as vst.runtimes.profile's for TFLite (shapes and MACs are not in
    the trace: left empty), so its summary and table serve both."""
    import tempfile
    import warnings
    import torch
    from executorch.devtools import Inspector
    if runs < 1:
        raise VstError("profile runs must be at least 1")
    data, what = _read(model)
    session = ExecuTorchSession(data, threads=threads, profile=True)
    spec = session.input
    x = torch.rand(1, 3, *spec.size[::-1]) if spec.layout == "NCHW" else torch.rand(1, *spec.size[::-1], 3)
    with one_torch_thread():
        for _ in range(runs + 1):
            session.method.execute([x])
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        etdump, debug = f"{tmp}/run.etdp", f"{tmp}/run.bin"
        session.program.write_etdump_result_to_file(etdump, debug)
        frame = Inspector(etdump_path=etdump).to_dataframe()
    frame = frame[frame["event_block_name"] == "Execute"]
    whole = [float(v) for v in frame[frame["event_name"] == "Method::execute"]["raw"].iloc[0]][1:]
    rows = []
    for _, r in frame[~frame["event_name"].isin(("Method::execute", "DELEGATE_CALL"))].iterrows():
        raw = [float(v) for v in r["raw"]][1:] or [float(v) for v in r["raw"]]     # the warm-up run left out
        rows.append({"index": len(rows), "op": r["event_name"].rsplit(" #", 1)[0], "name": r["event_name"],
                     "shape": [], "dtype": "", "macs": None, "ms": round(min(raw), 4),
                     "ms_median": round(float(np.median(raw)), 4)})
    total = sum(r["ms"] for r in rows)
    by_op: dict[str, float] = {}
    for r in rows:
        r["share"] = round(r["ms"] / total, 4) if total else 0.0
        by_op[r["op"]] = by_op.get(r["op"], 0.0) + r["ms"]
    whole_best = min(whole) if whole else float("nan")
    return {"ops": rows, "by_op": {k: round(v, 3) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
            "whole_ms": round(whole_best, 3), "whole_ms_median": round(float(np.median(whole)), 3) if whole else None,
            "sum_ms": round(total, 3), "sum_over_whole": round(total / whole_best, 3) if whole else None,
            "threads": threads, "runs": runs, "runtime": f"executorch {session.version} + xnnpack",
            "method": "ExecuTorch's ETDump of the whole program run as it ships, read by its Inspector: each XNNPACK "
                      "operator's time inside the delegate, best of runs after one warm-up",
            "limits": "ops timed in place (no cut-out): the sum is the delegate's own time; the trace carries no "
                      "shapes or MACs"}

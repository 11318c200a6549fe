"""What the phone's GPU really takes of a TFLite artifact, measured: the artifact runs on LiteRT's GPU accelerator
(vst.runtimes.gpu). The record says whether the GPU took the whole graph, which ops stay on the CPU (LiteRT does
not name them: each distinct op is offered to the GPU alone, vst.runtimes.litert_graph), the GPU's output against
the source model and against the CPU run, and the temporal error under the GPU's float16 arithmetic. It replaces
the allow-list verdict (rules/tflite_gpu.json), which it keeps beside it for comparison."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from vst.convert import verify
from vst.convert import temporal as temporal_qa

CUT_SOURCE = ("measured: each distinct op of the artifact compiled alone on LiteRT's GPU accelerator (LiteRT "
              "reports only whether the whole graph was taken)")
# the GPU computes in float16 whatever the file's precision: an fp32 artifact is held to fp16's threshold there
GPU_PRECISION = "fp16"


def not_measured(reason: str) -> dict:
    return {"measured": False, "reason": reason}


def measure(c, artifact: Path, cpu_out: np.ndarray | None, allow_list: dict) -> dict:
    """The "gpu" record of a conversion report. `c`: the Conversion; `cpu_out`: the artifact's outputs on the
    photos from the CPU run (NCHW); `allow_list`: the allow-list's tflite_gpu verdict."""
    from vst.common.errors import VstError
    from vst.runtimes import gpu
    from vst.runtimes.stylizer import ArtifactRunner
    usable, what, adapter = gpu.availability()
    if not usable:
        return not_measured(what)
    if c.front.kept:
        return not_measured("artifacts that keep an input besides the image are not checked on the GPU yet")
    try:
        runner = ArtifactRunner(artifact, delegate="gpu")      # one compile for the photos and the clips
    except gpu.WorkerEnded as exc:
        return not_measured(f"the GPU check crashed, no verdict: {exc}")
    except VstError as exc:
        return {**_header(adapter), "measured": True, "fully_accelerated": False, "verdict": "none",
                "error": str(exc), **_against(allow_list, "none", [])}
    session = runner.session
    try:
        rec = {**_header(session.adapter or adapter), "measured": True,
               "fully_accelerated": session.fully_accelerated, "load_ms": session.load_ms,
               "verdict": "full" if session.fully_accelerated else "partial",
               "cpu_ops": [] if session.fully_accelerated else cpu_ops_of(artifact)}
        if rec["cpu_ops"]:
            rec["cpu_ops_source"] = CUT_SOURCE
        rec.update(_against(allow_list, rec["verdict"], [o["op"] for o in rec["cpu_ops"]]))
        rec.update(_numerics(c, artifact, runner, cpu_out))
    except gpu.WorkerEnded as exc:
        return not_measured(f"the GPU check crashed, no verdict: {exc}")
    except VstError as exc:     # compiled but failed to run: a finding about the GPU, not about the conversion
        rec["error"] = str(exc)
    finally:
        session.close()
    return rec


def _numerics(c, artifact: Path, runner, cpu_out: np.ndarray | None) -> dict:
    """The GPU's outputs on the photos against the source and the CPU run, and the temporal error under it."""
    x = verify.to_layout(c.images, c.io_layout)
    got = verify.from_layout(np.concatenate([runner.session.run(x[i:i + 1]) for i in range(len(x))]), c.io_layout)
    out = {"fidelity": _fidelity(c, got)}
    if cpu_out is not None:
        cmp = verify.compare(cpu_out, got)
        out["vs_cpu"] = {"psnr_db": verify._finite(cmp["psnr_db"]), "max_abs_err": cmp["max_abs_err"]}
    w, h = c.size
    out["temporal"] = temporal_qa.temporal_check(c.front.reference, artifact, w, h, runnable=True,
                                                 random_weights=c.front.src.random_weights, runner=runner,
                                                 samples=False)
    return out


def _header(adapter: dict | None) -> dict:
    from importlib.metadata import version
    from vst.runtimes import gpu
    software = adapter is None or adapter.get("arch") == "software"
    return {"accelerator": gpu.ACCELERATOR, "litert": version("ai-edge-litert"), "adapter": adapter,
            "software_gpu": software, **({"note": gpu.SOFTWARE_NOTE} if software else {})}


def _fidelity(c, got: np.ndarray) -> dict:
    """Against the source, at the looser of the artifact's threshold and float16's."""
    quant = c.quant if verify.THRESHOLDS_DB[c.quant] < verify.THRESHOLDS_DB[GPU_PRECISION] else GPU_PRECISION
    fid = verify.fidelity(c.ref_out, got, quant, c.ref_kind)
    if c.front.src.random_weights:
        fid["gate_passed_if_trained"], fid["passed"] = fid["passed"], None
    return fid


def _against(allow_list: dict, verdict: str, cpu_ops: list[str]) -> dict:
    """The allow-list's verdict beside the measured one, and where they part."""
    listed = sorted({f["op"] for f in allow_list.get("fallbacks", [])})
    return {"allow_list": {"verdict": allow_list.get("verdict"), "falls_back": listed},
            "agrees_with_allow_list": allow_list.get("verdict") == verdict and listed == sorted(set(cpu_ops))}


def cpu_ops_of(artifact: Path) -> list[dict]:
    """The ops the GPU refuses, each with the node indices of its kind; an op whose check crashed the worker is
    listed with crashed=True."""
    from vst.runtimes import gpu, litert_graph
    ones = litert_graph.one_op_models(Path(artifact).read_bytes())
    with tempfile.TemporaryDirectory(prefix="vst-gpu-cut-") as d:
        paths = []
        for i, one in enumerate(ones):
            paths.append(Path(d) / f"op{i}.tflite")
            paths[-1].write_bytes(one.model)
        taken = gpu.taken(paths)
    out: dict[str, dict] = {}
    for one, ok in zip(ones, taken):
        if ok:
            continue
        row = out.setdefault(one.op, {"op": one.op, "nodes": []})
        row["nodes"] = sorted(row["nodes"] + one.nodes)
        if ok is None:
            row["crashed"] = True
    return list(out.values())


def delegate_verdict(rec: dict, allow_list: dict) -> dict:
    """The tflite_gpu entry of the report's delegates, from the measurement when there is one."""
    if not rec.get("measured") or "verdict" not in rec:
        return {**allow_list, "measured": False}
    fallbacks = [{"op": o["op"], "node": n, "reason": "LiteRT's GPU accelerator refused it: it runs on the CPU",
                  "source": CUT_SOURCE} for o in rec.get("cpu_ops", []) for n in o["nodes"]]
    if rec["verdict"] == "none":
        fallbacks = [{"op": "(whole graph)", "node": "graph", "reason": rec.get("error", "not compiled"),
                      "source": "measured"}]
    return {"verdict": rec["verdict"], "fallbacks": fallbacks, "measured": True,
            "source": f"measured here on {rec['accelerator']} ({(rec.get('adapter') or {}).get('name', 'GPU')})",
            "allow_list_verdict": allow_list.get("verdict")}

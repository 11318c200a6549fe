"""The held-out battery: five common generator families (tests/heldout/families.py) taken through vst's commands
as a user would take them: each family exported as TorchScript, then `vst-convert --to tflite` at fp32, int8 and
int8 --dynamic (full checks, the GPU check included), `vst-predict` on every artifact and `vst-bench --compare`
of fp32 against int8 --dynamic.

    .venv/bin/python scripts/heldout_battery.py [--out heldout-out] [--size 128x96] [--fresh] [--only NAME ...]

Each family's record is written to OUT/<family>/result.json when the family is done, and OUT/battery.json
gathers them with the commit and load they ran under; rerunning skips finished families (`--fresh` starts
over). Prints one table at the end. Nothing here is tuned on: the battery exists to say what a user meets.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from heldout.families import FAMILIES, export  # noqa: E402

BIN = Path(sys.executable).parent
PRECISIONS = {"fp32": ["--quant", "fp32"], "int8": ["--quant", "int8"], "int8-dynamic": ["--quant", "int8", "--dynamic"]}
PHONE = "iphone11pro"


def _run(cmd: list[str], cwd: Path, timeout: float = 1800) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as exc:
        return 124, exc.stdout or "", f"timed out after {timeout:.0f} s", time.perf_counter() - t0


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def convert_one(src: Path, precision: str, size: str, fam_dir: Path) -> dict:
    art = fam_dir / f"{src.stem}-{precision}.tflite"
    rc, out, err, secs = _run([str(BIN / "vst-convert"), str(src), "--to", "tflite", *PRECISIONS[precision],
                               "--size", size, "-o", art.name], fam_dir)
    (fam_dir / f"convert-{precision}.log").write_text(out + err)
    rec: dict = {"precision": precision, "rc": rc, "seconds": round(secs, 1)}
    report = Path(f"{art}.report.json")
    if rc not in (0, 1) or not report.exists():
        rec.update(status="refused", reason=_last_line(err) or _last_line(out))
        return rec
    r = json.loads(report.read_text())
    path, fid, temp, gpu = r.get("conversion_path") or {}, r["fidelity"], r.get("temporal") or {}, r.get("gpu") or {}
    gpu_del = r["delegates"].get("tflite_gpu", {})
    rec.update(
        status="converted" if rc == 0 else "converted, fidelity failed",
        artifact=art.name,
        path=path.get("produced_by"),
        quantized_by=path.get("quantized_by"),
        why_fallback=path.get("why"),
        transposes=r["op_histogram"].get("TRANSPOSE", 0),
        transposes_layout_naive=r["transposes"].get("before"),
        xnnpack_partitions=r["xnnpack"].get("partitions"),
        xnnpack_nodes=f"{r['xnnpack'].get('delegated_nodes')}/{r['xnnpack'].get('total_nodes')}",
        xnnpack_left=r["delegates"].get("xnnpack", {}).get("fallbacks"),
        psnr_db=fid.get("psnr_db"), psnr_threshold_db=fid.get("threshold_psnr_db"), fidelity_passed=fid.get("passed"),
        temporal_ratio=temp.get("ratio"), temporal_passed=temp.get("passed"),
        gpu_verdict=gpu_del.get("verdict"), gpu_measured=gpu_del.get("measured"),
        gpu_allow_list_verdict=gpu_del.get("allow_list_verdict"),
        gpu_cpu_ops=gpu.get("cpu_ops"), gpu_psnr_db=(gpu.get("fidelity") or {}).get("psnr_db"),
        gpu_temporal_ratio=(gpu.get("temporal") or {}).get("ratio"),
        gpu_note=gpu.get("error") or gpu.get("reason"),
        bytes=r["artifact"].get("bytes"),
    )
    return rec


_FPS = re.compile(r"([\d.]+) FPS \(([\d.]+) ms/frame\) predicted")


def predict_one(art: str, fam_dir: Path) -> dict:
    rc, out, err, _ = _run([str(BIN / "vst-predict"), art, "--device", PHONE], fam_dir, timeout=300)
    m = _FPS.search(out)
    if rc != 0 or not m:
        return {"rc": rc, "refused": _last_line(err) or _last_line(out)}
    return {"rc": rc, "fps": float(m.group(1)), "ms": float(m.group(2)),
            "extrapolation": [ln.split("extrapolation: ", 1)[1] for ln in out.splitlines() if "extrapolation: " in ln]}


def compare(a: str, b: str, fam_dir: Path, seconds: int) -> dict:
    rc, out, err, _ = _run([str(BIN / "vst-bench"), "--compare", a, b, "--seconds", str(seconds),
                            "--json", "compare.json"], fam_dir, timeout=600)
    (fam_dir / "compare.log").write_text(out + err)
    if rc != 0:
        return {"rc": rc, "refused": _last_line(err) or _last_line(out)}
    entries = json.loads((fam_dir / "compare.json").read_text())["entries"]
    first, second = entries[0], entries[1]
    ratio_line = next((ln for ln in out.splitlines() if ln.startswith(b)), "")
    m = re.search(r"([\d.]+)x \[([\d.]+), ([\d.]+)\]", ratio_line)
    return {"rc": 0, "fp32_ms": round(first["latency_ms_median"], 2), "int8_dynamic_ms": round(second["latency_ms_median"], 2),
            "speed_vs_fp32": float(m.group(1)) if m else None,
            "ci": [float(m.group(2)), float(m.group(3))] if m else None}


def run_family(name: str, out: Path, size: str, seconds: int) -> dict:
    fam_dir = out / name
    shutil.rmtree(fam_dir, ignore_errors=True)      # an interrupted family starts over
    fam_dir.mkdir(parents=True)
    w, h = (int(v) for v in size.split("x"))
    src = export(name, fam_dir / f"{name}.pt", (w, h))
    rec: dict = {"family": name, "size": size, **_git(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "load_before": os.getloadavg()[0], "conversions": {}}
    for precision in PRECISIONS:
        c = convert_one(src, precision, size, fam_dir)
        if "artifact" in c:
            c["predict"] = predict_one(c["artifact"], fam_dir)
        rec["conversions"][precision] = c
        print(f"  {name} {precision}: {c['status']} ({c['seconds']} s)", flush=True)
    arts = [rec["conversions"][p].get("artifact") for p in ("fp32", "int8-dynamic")]
    rec["compare"] = compare(*arts, fam_dir, seconds) if all(arts) else {"skipped": "fp32 or int8-dynamic missing"}
    rec["load_after"] = os.getloadavg()[0]
    tmp = fam_dir / "result.json.tmp"
    tmp.write_text(json.dumps(rec, indent=1))
    tmp.replace(fam_dir / "result.json")             # written last: its presence means the family is done
    return rec


def _git() -> dict:
    """The commit, and the tracked files edited but not committed (others work in this tree at the same time)."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout
    return {"commit": git("log", "-1", "--format=%h %s").strip()[:120],
            "uncommitted": git("diff", "--name-only", "HEAD").split()}


def _fmt(v, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def table(results: list[dict]) -> str:
    rows = ["| family | precision | result | path | TRANSPOSE | PSNR dB | temporal | GPU (measured) | "
            "predicted iPhone 11 Pro | int8-dyn vs fp32 |", "|" + "---|" * 10]
    for r in results:
        for p, c in r["conversions"].items():
            if c["status"] == "refused":
                rows.append(f"| {r['family']} | {p} | refused: {c['reason']} | | | | | | | |")
                continue
            path = c["path"] + (f" + {c['quantized_by']}" if c.get("quantized_by") else "")
            gpu = f"{c['gpu_verdict']}" + (f", {c['gpu_psnr_db']} dB" if c.get("gpu_psnr_db") is not None else "")
            pr = c.get("predict", {})
            pred = f"{pr['fps']} FPS" if "fps" in pr else f"refused: {pr.get('refused')}"
            cmp_ = r.get("compare", {})
            speed = (f"{cmp_['speed_vs_fp32']}x [{cmp_['ci'][0]}, {cmp_['ci'][1]}]"
                     if p == "int8-dynamic" and cmp_.get("speed_vs_fp32") else "")
            rows.append(f"| {r['family']} | {p} | {c['status']} | {path} | {c['transposes']} | {_fmt(c['psnr_db'])} "
                        f"| {_fmt(c['temporal_ratio'])} | {gpu} | {pred} | {speed} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="heldout-out", type=Path)
    ap.add_argument("--size", default="128x96", help="WxH (pix2pix's 5 downsamplings need multiples of 32)")
    ap.add_argument("--fresh", action="store_true", help="start over instead of skipping finished families")
    ap.add_argument("--only", nargs="+", choices=sorted(FAMILIES), help="these families only")
    ap.add_argument("--seconds", type=int, default=10, help="vst-bench --compare budget per family")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.only or FAMILIES:
        done = out / name / "result.json"
        if done.exists():
            print(f"{name}: done earlier, kept", flush=True)
        else:
            print(f"{name}: converting at {args.size}", flush=True)
            run_family(name, out, args.size, args.seconds)
        results.append(json.loads(done.read_text()))
    summary = {**_git(), "cpu_cores": os.cpu_count(), "note": "timings taken under load on a shared machine",
               "families": results}
    (out / "battery.json").write_text(json.dumps(summary, indent=1))
    print(f"commit {summary['commit']}")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

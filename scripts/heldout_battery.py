"""The held-out battery: five common generator families (tests/heldout/families.py) taken through vst's commands
as a user would take them: each family exported as TorchScript, then `vst-convert --to tflite` at fp32, int8 and
int8 --dynamic (full checks, the GPU check included), `vst-predict` on every artifact and `vst-bench --compare`
of fp32 against int8 --dynamic.

    .venv/bin/python scripts/heldout_battery.py [--out out/heldout] [--size 128x96] [--fresh] [--only NAME ...]
                                                [--commit REV]

Each family's record is written to OUT/<family>/result.json when the family is done, and OUT/battery.json
gathers them with the commit and load they ran under; rerunning skips finished families (`--fresh` starts
over). `--commit REV` runs vst as committed at REV (its package folders written to OUT/tree by `git archive` and
put first on PYTHONPATH), so that edits others have not committed yet in a shared tree do not enter the run. Prints one table at the end. Nothing here is tuned on: the battery exists to say what a user meets.
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


ENV: dict | None = None       # the commands' environment: PYTHONPATH to a pinned tree with --commit


def _run(cmd: list[str], cwd: Path, timeout: float = 1800) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)
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
        # exit 2 is vst's one-line refusal; anything else is a crash, not an answer about the model
        rec.update(status="refused" if rc == 2 else "crashed", reason=_last_line(err) or _last_line(out))
        return rec
    rec.update(status="converted" if rc == 0 else "converted, fidelity failed", artifact=art.name)
    rec.update(from_report(report))
    return rec


def from_report(report: Path) -> dict:
    """What the battery keeps of a conversion report."""
    r = json.loads(report.read_text())
    path, fid, temp, gpu = r.get("conversion_path") or {}, r["fidelity"], r.get("temporal") or {}, r.get("gpu") or {}
    gpu_del, gpu_fid = r["delegates"].get("tflite_gpu", {}), gpu.get("fidelity") or {}
    return dict(
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
        gpu_allow_list_verdict=gpu_del.get("allow_list_verdict"), gpu_cpu_ops=gpu.get("cpu_ops"),
        gpu_psnr_db=gpu_fid.get("psnr_db"), gpu_psnr_threshold_db=gpu_fid.get("threshold_psnr_db"),
        gpu_fidelity_passed=gpu_fid.get("passed"), gpu_temporal_ratio=(gpu.get("temporal") or {}).get("ratio"),
        gpu_note=gpu.get("error") or gpu.get("reason"),
        bytes=r["artifact"].get("bytes"),
    )


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
    return from_compare(fam_dir / "compare.json")


def from_compare(path: Path) -> dict:
    """The two artifacts' medians and vst-bench's paired speed ratio, with whether it resolved to +-5%."""
    fp32, dyn = json.loads(path.read_text())["entries"]
    return {"rc": 0, "fp32_ms": round(fp32["latency_ms_median"], 2), "int8_dynamic_ms": round(dyn["latency_ms_median"], 2),
            "speed_vs_fp32": round(dyn["speed_ratio"], 3), "ci": [round(v, 3) for v in dyn["speed_ratio_ci"]],
            "resolved": dyn["resolved"]}


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


def rescan(fam_dir: Path) -> None:
    """Re-read a finished family's reports and comparison with this script's extraction."""
    rec = json.loads((fam_dir / "result.json").read_text())
    for c in rec["conversions"].values():
        if "artifact" in c:
            c.update(from_report(fam_dir / f"{c['artifact']}.report.json"))
    if (fam_dir / "compare.json").exists():
        rec["compare"] = from_compare(fam_dir / "compare.json")
    (fam_dir / "result.json").write_text(json.dumps(rec, indent=1))


def _git_out(*a) -> str:
    return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=True).stdout


PINNED: str | None = None     # --commit's revision


def _git() -> dict:
    """The commit vst ran as, and (on the working tree) the tracked files edited but not committed: others work
    in this tree at the same time."""
    if PINNED:
        return {"commit": _git_out("log", "-1", "--format=%h %s", PINNED).strip()[:120], "uncommitted": "pinned"}
    return {"commit": _git_out("log", "-1", "--format=%h %s").strip()[:120],
            "uncommitted": _git_out("diff", "--name-only", "HEAD").split()}


def pin_tree(rev: str, out: Path) -> dict:
    """Write vst's package folders as committed at `rev` to OUT/tree/vst and return an environment that imports
    vst from there (the path comes before the editable install's finder)."""
    import tomllib
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values()
    dest = out / "tree" / "vst"
    if not dest.exists():
        tmp = out / "tree" / "vst.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev, *dirs], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        tmp.replace(dest)
    env = {**os.environ, "PYTHONPATH": str(dest.parent)}
    where = subprocess.run([sys.executable, "-c", "import vst.convert; print(vst.convert.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(dest)), f"vst still imports from {where}"
    return env


def _fmt(v, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def table(results: list[dict]) -> str:
    """The markdown table docs/convert.md shows (times are whatever the machine gave: say if it was loaded)."""
    rows = ["| family | precision | result | path | TRANSPOSE (naive -> file) | XNNPACK partitions | PSNR dB "
            "(threshold) | temporal | GPU (measured): verdict, fp16 PSNR | vst-predict iPhone 11 Pro | "
            "int8-dyn vs fp32 (host) | convert s |", "|" + "---|" * 12]
    for r in results:
        for p, c in r["conversions"].items():
            if "artifact" not in c:
                rows.append(f"| {r['family']} | {p} | {c['status']}: {c['reason']} |" + " |" * 9)
                continue
            path = c["path"] + (f" + {c['quantized_by']}" if c.get("quantized_by") else "")
            gpu = f"{c['gpu_verdict']}" + (f", {c['gpu_psnr_db']} dB" if c.get("gpu_psnr_db") is not None else "")
            gpu += f" (< {c['gpu_psnr_threshold_db']:g}: fails)" if c.get("gpu_fidelity_passed") is False else ""
            pr = c.get("predict", {})
            pred = f"{pr['fps']} FPS" if "fps" in pr else f"refused: {pr.get('refused')}"
            cmp_ = r.get("compare", {})
            speed = (f"{cmp_['speed_vs_fp32']:.2f}x [{cmp_['ci'][0]:.2f}, {cmp_['ci'][1]:.2f}]"
                     + ("" if cmp_["resolved"] else " (unresolved)") if p == "int8-dynamic" and cmp_.get("ci") else "")
            rows.append(f"| {r['family']} | {p} | {c['status']} | {path} | {_fmt(c['transposes_layout_naive'])} -> "
                        f"{c['transposes']} | {c['xnnpack_partitions']} | {_fmt(c['psnr_db'], '.1f')} "
                        f"({c['psnr_threshold_db']:g}) | {_fmt(c['temporal_ratio'], '.3f')} | {gpu} | {pred} | {speed} "
                        f"| {c['seconds']:.0f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="out/heldout", type=Path)  # out/ is ignored by git
    ap.add_argument("--size", default="128x96", help="WxH (pix2pix's 5 downsamplings need multiples of 32)")
    ap.add_argument("--fresh", action="store_true", help="start over instead of skipping finished families")
    ap.add_argument("--only", nargs="+", choices=sorted(FAMILIES), help="these families only")
    ap.add_argument("--seconds", type=int, default=10, help="vst-bench --compare budget per family")
    ap.add_argument("--commit", help="run vst as committed at this revision instead of the working tree")
    ap.add_argument("--rescan", action="store_true",
                    help="refresh finished families' records from their reports on disk (no conversion)")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"\d+x\d+", args.size):
        ap.error(f"--size {args.size!r}: give WxH, e.g. 128x96")
    out = args.out.resolve()
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    global ENV, PINNED
    if args.commit:
        try:
            PINNED = _git_out("rev-parse", "--verify", f"{args.commit}^{{commit}}").strip()
        except subprocess.CalledProcessError:
            ap.error(f"--commit {args.commit!r} is no commit of this repository (git log shows them)")
        pinned = out / "tree" / "commit"
        if pinned.exists() and pinned.read_text() != PINNED:
            raise SystemExit(f"{out} holds a run of {pinned.read_text()[:9]}: give --fresh or another --out")
        ENV = pin_tree(PINNED, out)
        pinned.write_text(PINNED)
    results = []
    for name in args.only or FAMILIES:
        done = out / name / "result.json"
        crashed = done.exists() and any(c["status"] == "crashed"
                                        for c in json.loads(done.read_text())["conversions"].values())
        if done.exists() and not crashed:
            print(f"{name}: done earlier, kept", flush=True)
            if args.rescan:
                rescan(out / name)
        else:
            print(f"{name}: converting at {args.size}", flush=True)
            run_family(name, out, args.size, args.seconds)
        results.append(json.loads(done.read_text()))
    summary = {"commits": sorted({r["commit"] for r in results}), "cpu_cores": os.cpu_count(),
               "note": "timings taken under load on a shared machine", "families": results}
    (out / "battery.json").write_text(json.dumps(summary, indent=1))
    print("vst at " + "; ".join(summary["commits"]))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

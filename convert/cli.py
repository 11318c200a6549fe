"""vst-convert MODEL --to tflite|coreml|onnx|executorch --quant fp32|fp16|int8 --size WxH [--calib DIR] [-o OUT]"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from vst.common.cli import run_cli, size_arg
from vst.common.records import io_text, precision, report_path
from vst.runtimes.onnxfile import parse_bind
from vst.runtimes.table import TARGETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vst-convert", description="Turn a trained stylizer into a verified phone "
                                "artifact (TFLite, Core ML or ONNX) with a report beside it.")
    p.add_argument("model", help="vst checkpoint, zoo name (e.g. kunster:alpha=0.25,beta=1), TorchScript, "
                                 "ExportedProgram (.pt2) or ONNX file")
    p.add_argument("--to", choices=tuple(TARGETS), default="tflite")
    p.add_argument("--quant", choices=("fp32", "fp16", "int8"), default="fp32")
    p.add_argument("--size", type=size_arg, default=(480, 320), help="WxH, one artifact per size (default 480x320)")
    p.add_argument("--calib", help="folder of images or videos for int8 calibration (default: shipped photos)")
    p.add_argument("-o", "--out", help="artifact path (default: <model name>-<W>x<H>-<precision>.<ext>, as vst-run names them)")
    p.add_argument("--io-layout", choices=("nhwc", "nchw"), default="nhwc")
    p.add_argument("--random-weights", action="store_true", help="allow a zoo name with random weights")
    p.add_argument("--trust-pickle", action="store_true", help="unpickle torch files fully (runs their code)")
    p.add_argument("--bind", action="append", default=[], metavar="NAME=VALUE",
                   help="fix an extra model input: style_weights=3 (one-hot), a JSON list, or a .npy file")
    p.add_argument("--keep-input", action="append", default=[], metavar="NAME",
                   help="keep this extra model input (e.g. Magenta's style bottleneck) as a second artifact "
                        "input instead of binding it; a --bind value for it is used for verification only")
    p.add_argument("--qdq", choices=("keep", "float"), default=None,
                   help="QDQ sources: keep the source's int8 activation rounding as float ops with its own scales "
                        "(default for tflite fp32/fp16), or drop it (float; default for int8, which re-quantizes, and other targets)")
    p.add_argument("--temporal", action="store_true",
                   help="with --to tflite --quant int8: keep float the ops whose int8 noise makes video flicker, "
                        "chosen by a measured temporal-sensitivity pass (slower conversion)")
    p.add_argument("--dynamic", action="store_true",
                   help="with --to tflite|executorch --quant int8: int8 weights, activations quantized per frame at run time "
                        "(dynamic range; no calibration): keeps video as stable as fp32 (docs/quantization.md)")
    p.add_argument("--checks", choices=("full", "proofs"), default="full",
                   help="proofs: for speed studies of random weights, verify the rewrites and the artifact's "
                        "fidelity only (no temporal QA, sample PNGs, per-layer divergence); default full")
    p.add_argument("--no-gpu-check", action="store_true",
                   help="tflite: skip the run on LiteRT's GPU accelerator (which ops the GPU takes, its float16 "
                        "fidelity and temporal error); the GPU verdict then comes from the allow-list")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--profile", action="store_true", help="tflite, executorch: time each op of the artifact on this machine "
                   "and add the breakdown to the report (as vst-bench --profile)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vst.convert.api import convert, default_out
    w, h = args.size
    out = args.out or default_out(args.model, args.to, args.quant, (w, h), args.temporal, args.dynamic)
    bind = parse_bind(args.bind)
    rep = convert(args.model, to=args.to, quant=args.quant, size=(w, h), out=out, calib=args.calib,
                  io_layout=args.io_layout, random_weights=args.random_weights, trust_pickle=args.trust_pickle,
                  bind=bind, profile=args.profile, temporal=args.temporal,
                  qdq_form=args.qdq, keep_inputs=tuple(args.keep_input),
                  dynamic=args.dynamic, checks=args.checks, gpu_check=not args.no_gpu_check)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print(summary(rep))
    fid = rep["fidelity"]
    if fid["passed"] is False:
        first = fid.get("first_divergence") or {}
        where = f"; error starts at {first.get('node')} ({first.get('op')})" if first else ""
        print(f"vst-convert: fidelity check failed: PSNR {fid['psnr_db']} dB < {fid['threshold_psnr_db']} dB{where}",
              file=sys.stderr)
        return 1
    tmp = rep.get("temporal") or {}
    if tmp.get("passed") is False:
        print(f"vst-convert: temporal check failed: the artifact's temporal error is {tmp['ratio']}x its source "
              f"model's (threshold {tmp['threshold_ratio']}x; 001 eq. 8 on clips with exact flow)", file=sys.stderr)
        return 1
    return 0


def summary(rep: dict) -> str:
    fid = rep["fidelity"]
    lines = [f"{rep['artifact']['path']} ({rep['artifact']['bytes'] / 2**20:.2f} MiB) from {rep['source']['kind']} "
             f"{rep['source']['name']}{' [RANDOM WEIGHTS]' if rep['source']['random_weights'] else ''}",
             f"  {rep['target']} {precision(rep)} {rep['size']['width']}x{rep['size']['height']} I/O "
             f"{io_text(rep)}; transposes {_count(rep['transposes']['before'])} -> {rep['transposes']['after']}"]
    if "xnnpack" in rep:
        x = rep["xnnpack"]
        lines.append(f"  XNNPACK: {x['delegated_nodes']}/{x['total_nodes']} nodes in {x['partitions']} partition(s)")
    if "executorch" in rep:
        d = rep["executorch"]["delegation"]
        lines.append(f"  ExecuTorch: {d['subgraphs']} delegated subgraph(s), {d['delegated_nodes']} nodes inside, "
                     f"{d['compute_nodes_outside']} compute node(s) outside")
        lines += [f"  [{'x' if r['applied'] else ' '}] torch: {r['name']}: {r['detail']}"
                  for r in rep["executorch"].get("torch_rewrites", ())]
    if "coreai" in rep:
        a = rep["coreai"]
        lines.append(f"  Core AI: {a['minimum_os']} asset by {a['converted_by']}; checked with {a['runtime']}")
    for p in rep["passes"]:
        lines.append(f"  [{'x' if p['applied'] else ' '}] {p['name']}: {p['detail']}")
    for name, d in rep["delegates"].items():
        ops = sorted({f['op'] for f in d['fallbacks']})
        how = " (measured)" if d.get("measured") else " (allow-list)" if name in ("tflite_gpu", "nnapi") else ""
        reasons = {f["reason"] for f in d["fallbacks"]}
        if d["verdict"] == "none" and len(reasons) == 1:     # one cause for the whole graph: say it, not every op
            lines.append(f"  {name}: none{how} ({reasons.pop()})")
            continue
        lines.append(f"  {name}: {d['verdict']}{how}{' (falls back: ' + ', '.join(ops) + ')' if ops else ''}")
    if fid["measured"]:
        psnr = "identical (bit-exact)" if fid["psnr_db"] is None else f"{fid['psnr_db']} dB"
        lines.append(f"  fidelity: PSNR {psnr}, max abs err {fid['max_abs_err']:.2e} vs "
                     f"{fid['reference']} (threshold {fid['threshold_psnr_db']} dB): "
                     f"{_verdict(fid)}")
    else:
        lines.append(f"  fidelity: {fid.get('note')}")
    tmp = rep.get("temporal")
    if tmp and tmp["measured"]:
        verdict = _judged(tmp)
        lines.append(f"  temporal: error {tmp['error_artifact']} vs source {tmp['error_source']} = "
                     f"{tmp['ratio']}x (threshold {tmp['threshold_ratio']}x): {verdict}")
    elif tmp:
        lines.append(f"  temporal: {tmp.get('note')}")
    if rep.get("gpu"):
        lines.append("  " + gpu_line(rep["gpu"]))
    if fid.get("qdq_source"):
        q = fid["qdq_source"]
        lines.append(f"  QDQ source, rounding {q['form']}: PSNR {q['psnr_db']} dB vs ONNX Runtime (int8 kernels), "
                     f"{q['reference_semantics_psnr_db']} dB vs its reference semantics, {q['float_form_psnr_db']} dB "
                     f"vs the float form (float form: {q['float_graph_psnr_db']} / "
                     f"{q['float_graph_reference_psnr_db']} dB)")
    if rep.get("conversion_path"):
        c = rep["conversion_path"]
        lines.append(f"  path: {c['produced_by']}{' (' + c['why'] + ')' if c.get('why') else ''}")
        if c.get("quantized_by"):
            lines.append(f"  quantized by {c['quantized_by']}")
        lines += [f"  passed over: {k}, {why}" for k, why in c.get("others", {}).items()]
    if rep.get("profile"):
        from vst.runtimes.profile import format_table
        lines.append("  profile: " + format_table(rep["profile"], 8).replace("\n", "\n    "))
    lines.append(f"  report: {report_path(rep['artifact']['path'])}; {rep['timing']['conversion_s']:.1f} s")
    return "\n".join(lines)


def gpu_line(g: dict) -> str:
    """One line of what LiteRT's GPU accelerator did with the artifact."""
    if not g["measured"]:
        return f"GPU: not run ({g['reason']})"
    where = (g.get("adapter") or {}).get("name", "a GPU") + (", software: coverage and numerics only"
                                                           if g.get("software_gpu") else "")
    if g["verdict"] == "none":
        return f"GPU ({where}): refused the model ({g.get('error')})"
    cpu = ", ".join(f"{o['op']} x{len(o['nodes'])}" for o in g.get("cpu_ops", []))
    took = "whole graph" if g["fully_accelerated"] else f"partial, on the CPU: {cpu or 'ops LiteRT did not name'}"
    if "fidelity" not in g:
        return f"GPU ({where}): compiled ({'whole graph' if g['fully_accelerated'] else 'partial'}), failed to run: {g.get('error')}"
    fid, tmp = g["fidelity"], g["temporal"]
    vs_cpu = f", {g['vs_cpu']['psnr_db']} dB vs the CPU run" if g.get("vs_cpu") else ""
    ratio = (f"; temporal {tmp['ratio']}x (threshold {tmp['threshold_ratio']}x): {_judged(tmp)}"
             if tmp.get("measured") else "")
    return (f"GPU ({where}): {took}; PSNR {fid['psnr_db']} dB vs {fid['reference']} (threshold "
            f"{fid['threshold_psnr_db']} dB, float16): {_verdict(fid)}{vs_cpu}{ratio}")


def _count(n: int | None) -> str:
    return "not counted" if n is None else str(n)


def _verdict(fid: dict) -> str:
    if fid["passed"] is None:
        return f"not gated, {fid['note']}" if fid.get("note") else "not gated"
    return "PASS" if fid["passed"] else "FAIL"


def _judged(temporal: dict) -> str:
    return {True: "PASS", False: "FAIL", None: "not judged"}[temporal["passed"]]


def entry() -> None:
    sys.exit(run_cli(main))

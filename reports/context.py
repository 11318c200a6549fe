"""Turn collected inputs into the template's context: the zoo beside Table II, conversion cards, benchmark
table, plots, sample frames, environment and commands."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from vst.models import table2
from vst.models.profile import zoo_table
from vst.predict.fits import fig6_figure, table2_study
from vst.reports.collect import Inputs
from vst.reports.environment import host_environment
from vst.reports.figures import figure_data_uri
from vst.reports.study import study_section
from vst.reports.samples import clip_rows, is_trained, sample_rows
from vst.bench.stats import DRIFT_LIMIT
from vst.common.records import artifact_key, io_text, precision, table2_name

PAPER_FPS = {"iPhone 11 Pro 480x320": "fps_iphone11pro_480x320", "iPhone 11 Pro 320x240": "fps_iphone11pro_320x240",
             "iPhone 6s 480x320": "fps_iphone6s_480x320", "iPhone 6s 320x240": "fps_iphone6s_320x240"}


def _fmt(v, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _cell_label(row: pd.Series) -> str:
    # worded like the paper's columns (device, then input size) and saying which FPS it is
    return f"{row['device']} {row['runtime']} {row['precision']} {row['resolution']} (FPS end to end)"


def _column_order(label: str) -> tuple:
    """Measured columns in the paper's order: 480x320 before 320x240, then by device and runtime."""
    res = next((r for r in ("480x320", "320x240") if f" {r} " in label), None)
    return ({"480x320": 0, "320x240": 1}.get(res, 2), label)


TABLE2_NAMES = frozenset(table2_name(ref["id"]) for ref in table2())


def zoo_rows(bench: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """Table II with vst's counts, and measured median FPS of any benchmarked model of the same configuration
    (trained or random weights: the conversion record names the configuration)."""
    rows, measured_cols = [], []
    refs = table2()
    counted = zoo_table([table2_name(ref["id"]) for ref in refs])
    for ref, (_, zoo) in zip(refs, counted.iterrows()):
        hits = bench[bench["named_config"] == zoo["name"]] if len(bench) else bench
        measured = {}
        for _, b in hits.iterrows():
            col = _cell_label(b)
            # a trained model of this configuration is named: it is not the zoo's random-weight model
            other = b["model_name"] if pd.notna(b["model_name"]) and b["model_name"] != zoo["name"] else None
            measured[col] = _fmt(float(b["fps_e2e"])) + (f" ({other})" if other else "")
            if col not in measured_cols:
                measured_cols.append(col)
        rows.append({"id": int(ref["id"]), "name": zoo["name"], "alpha": ref["alpha"], "beta": ref["beta"],
                     "params_paper": f"{ref['params_k']:.0f}k", "params_vst": f"{zoo['params'] / 1000:.1f}k",
                     "gmacs": f"{zoo['gmacs_480x320']:.2f}", "size_paper": f"{ref['size_mb']:.2f}",
                     "size_vst": f"{zoo['size_mb']:.2f}",
                     "paper_fps": {c: _fmt(ref[k], 2) for c, k in PAPER_FPS.items()}, "measured": measured})
    return rows, sorted(measured_cols, key=_column_order)


def _profile_rows(prof: dict | None) -> dict | None:
    """vst-convert --profile: the slowest ops, for the card's small table."""
    if not prof:
        return None
    return {"head": f"whole model {prof['whole_ms']:.2f} ms, sum of ops timed alone {prof['sum_ms']:.2f} ms "
                    f"({prof['sum_over_whole']:.2f}x), LiteRT + XNNPACK, {prof['threads']} threads, best of {prof['runs']}",
            "rows": [{"op": r["op"], "name": r["name"], "shape": "x".join(map(str, r["shape"])), "dtype": r["dtype"],
                      "ms": f"{r['ms']:.3f}", "share": f"{r['share'] * 100:.1f}%"} for r in prof["ops"][:8]],
            "by_op": ", ".join(f"{k} {v:.2f} ms" for k, v in prof["by_op"].items())}


def conversion_card(path: Path, rep: dict) -> dict:
    src, size, fid = rep["source"], rep["size"], rep.get("fidelity") or {}
    xnn = rep.get("xnnpack")
    xnn_text = (f"{xnn['partitions']} partition(s), {xnn['delegated_nodes']}"
                f"{'/' + str(xnn['total_nodes']) if xnn.get('total_nodes') is not None else ''} nodes delegated"
                if xnn else "not applicable")
    if fid.get("measured", True) and fid:
        psnr = "identical" if fid.get("psnr_db") is None else f"{fid['psnr_db']:.1f} dB"
        err = fid.get("max_abs_err")
        fid_text = (f"PSNR {psnr} (threshold {fid.get('threshold_psnr_db')} dB), max |err| "
                    f"{'—' if err is None else f'{err:.2g}'}, {fid.get('images')} real images")
        if fid.get("passed") is None and fid.get("note"):
            fid_text += f"; {fid['note']}"
    else:
        fid_text = fid.get("note", "not measured on this host")
    delegates = []
    for name, d in (rep.get("delegates") or {}).items():
        # one line per (op, reason): a rule that fails at 15 sites is one finding, with its sites listed
        grouped: dict[tuple, list[str]] = {}
        for f in d["fallbacks"]:
            grouped.setdefault((f["op"], f["reason"], f["source"]), []).append(str(f["node"]))
        how = "measured here" if d.get("measured") else "allow-list" if name in ("tflite_gpu", "nnapi") else \
            "measured here" if name == "xnnpack" else "rules"
        if d.get("allow_list_verdict") and d["allow_list_verdict"] != d["verdict"]:
            how += f" (the allow-list said {d['allow_list_verdict']})"
        delegates.append({"name": name, "verdict": d["verdict"], "full": d["verdict"] == "full", "how": how,
                          "fallbacks": [f"{op} ×{len(nodes)} (at {', '.join(nodes)}): {reason} [{source}]"
                                        for (op, reason, source), nodes in grouped.items()]})
    art = rep.get("artifact") or {}
    temporal = temporal_verdict(rep)
    made = rep.get("conversion_path") or {"produced_by": "native"}     # older reports: native only
    converter = made["produced_by"] + (f" ({made['why']})" if made.get("why") else "") + "".join(
        f"; passed over {k}: {why}" for k, why in (made.get("others") or {}).items())
    return {
        "psnr": ("identical" if fid.get("psnr_db") is None else f"{fid['psnr_db']:.1f} dB")
        if fid.get("measured", True) and fid else "not measured",
        "trained": is_trained(rep), "temporal": temporal["text"], "temporal_passed": temporal["passed"],
        "title": f"{Path(src['name']).name} → {rep['target']} {precision(rep)} {size['width']}x{size['height']}",
        # the file name, not the path it had on the converting machine: the table stays one line a row
        "source": f"{src['kind']} {Path(src['name']).name}" + (f" ({src['arch']} {src.get('config', {})})"
                                                             if src.get("arch") else ""),
        "random_weights": bool(src.get("random_weights")), "target": rep["target"], "quant": precision(rep),
        "size": f"{size['width']}x{size['height']}", "io_layout": io_text(rep),
        "artifact": Path(art.get("path", path.name)).name, "artifact_kb": f"{art.get('bytes', 0) / 1024:.1f}",
        "transposes_before": rep["transposes"]["before"], "transposes_after": rep["transposes"]["after"],
        "xnnpack": xnn_text, "fidelity": fid_text, "fidelity_passed": bool(fid.get("passed", False)),
        "fidelity_ungated": fid.get("passed", False) is None, "profile": _profile_rows(rep.get("profile")),
        "conversion_s": _fmt((rep.get("timing") or {}).get("conversion_s"), 1),
        "passes": rep.get("passes", []), "delegates": delegates, "converter": converter, "gpu": gpu_cell(rep),
        "op_histogram": sorted((rep.get("op_histogram") or {}).items(), key=lambda kv: -kv[1]),
    }


def gpu_cell(rep: dict) -> dict:
    """The conversions table's GPU cell: what LiteRT's GPU accelerator took and how close its output came."""
    g = rep.get("gpu")
    if not g:
        return {"short": "n/a", "cls": "muted", "text": "GPU: not run for this target"}
    if not g["measured"]:
        return {"short": "not run", "cls": "muted", "text": f"GPU: not run ({g['reason']})"}
    where = (g.get("adapter") or {}).get("name", "a GPU")
    soft = " (a software GPU: coverage and numerics are the GPU's, its speed is not a phone's)" \
        if g.get("software_gpu") else ""
    if g["verdict"] == "none":
        return {"short": "refused", "cls": "bad", "text": f"GPU on {where}{soft}: refused ({g.get('error')})"}
    if "fidelity" not in g:
        return {"short": "failed to run", "cls": "bad", "text": f"GPU on {where}{soft}: compiled, failed to run "
                                                               f"({g.get('error')})"}
    fid, tmp = g["fidelity"], g["temporal"]
    cpu = ", ".join(f"{o['op']} ×{len(o['nodes'])}" for o in g.get("cpu_ops", []))
    # a graph the GPU takes whole but computes unfaithfully is no GPU pick: the cell says it failed, not just "full"
    failed = [what for what, rec in (("fidelity", fid), ("temporal", tmp)) if rec.get("passed") is False]
    short = ("full" if g["fully_accelerated"] else "partial") + f", {fid['psnr_db']} dB" \
        + (f", fails {' and '.join(failed)}" if failed else "")
    text = (f"GPU on {where}{soft}: {'the whole graph' if g['fully_accelerated'] else 'partial; on the CPU: ' + cpu}; "
            f"PSNR {fid['psnr_db']} dB vs {fid['reference']} (threshold {fid['threshold_psnr_db']} dB, float16)"
            + (": below it, the GPU's output is not faithful" if fid.get("passed") is False else "")
            + (f", {g['vs_cpu']['psnr_db']} dB vs the CPU run" if g.get("vs_cpu") else "")
            + (f"; temporal error {tmp['ratio']}x the source's (threshold {tmp['threshold_ratio']}x"
               + (": FAIL)" if tmp.get("passed") is False else ")") if tmp.get("measured") else "")
            + ("" if g.get("agrees_with_allow_list") else
               f"; the allow-list said {g['allow_list']['verdict']}"
               + (f" (falls back: {', '.join(g['allow_list']['falls_back'])})" if g['allow_list']['falls_back'] else "")))
    ok = g["fully_accelerated"] and not failed
    return {"short": short, "cls": "bad" if failed else "ok" if ok else "warn", "text": text}


BENCH_COLUMNS = ["model", "device", "runtime", "precision", "resolution", "delegate used",
                 "FPS end to end [95% CI]", "FPS inference only [95% CI]", "inference ms median", "inference ms p90",
                 "e2e / inference", "repeats taken", "replicability (MLPerf: 5 runs within 5%)", "machine drift"]
LEFT_COLUMNS = 6


def _fps_ci(b: pd.Series, kind: str) -> str:
    lo, hi = float(b.get(f"{kind}_ci_low", float("nan"))), float(b.get(f"{kind}_ci_high", float("nan")))
    text = f"{float(b[kind]):.1f}"
    return text + (f" [{lo:.1f}, {hi:.1f}]" if not (math.isnan(lo) or math.isnan(hi)) else " (under 3 repeats: no CI)")


def _drift(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(v) else f"{100 * v:+.0f}%" + (" !" if abs(v) > DRIFT_LIMIT else "")


def _taken(b: pd.Series) -> str:
    """How a cell's repeats were spread in time: in turns with the other cells of its sweep, or back to back."""
    n = b.get("interleaved_cells")
    n = 1 if n is None or n != n else int(n)  # absent or NaN: a store read before the column existed
    return f"{int(b['repeats'])}, in turns with {n - 1} other cell(s)" if n > 1 else f"{int(b['repeats'])}, back to back"


def bench_rows(bench: pd.DataFrame) -> list[dict]:
    rows = []
    ordered = bench.sort_values(["resolution", "device", "model_name", "runtime", "precision"], na_position="last")
    for _, b in ordered.iterrows():
        verdict = b.get("replicability") or ("unsteady" if b["spread_flag"] else "")
        rows.append({
            "model": b["model_name"], "device": b["device"], "runtime": b["runtime"], "precision": b["precision"],
            "resolution": b["resolution"], "delegate used": b["delegate_used"],
            "FPS end to end [95% CI]": _fps_ci(b, "fps_e2e"),
            "FPS inference only [95% CI]": _fps_ci(b, "fps_inference"),
            "inference ms median": _fmt(float(b["inference_ms_median"]), 2),
            "inference ms p90": _fmt(float(b["inference_ms_p90"]), 2),
            "e2e / inference": _fmt(float(b["e2e_over_inference"]), 2),
            "repeats taken": _taken(b),
            "replicability (MLPerf: 5 runs within 5%)": f"{verdict} (spread {100 * float(b['repeat_spread']):.0f}%)",
            "machine drift": _drift(b.get("drift")), "node": b.get("node") or "",
            "_class": {"replicates": "ok", "unsteady": "bad"}.get(verdict, "warn")})
    return rows


def temporal_verdict(rep: dict) -> dict:
    """The conversion report's temporal QA record (vst-convert's temporal check; older reports lack it):
    {'passed': True/False/None, 'text': ...}; None = not judged (random weights) or not measured."""
    t = rep.get("temporal")
    if not isinstance(t, dict) or not t.get("measured"):
        return {"passed": None, "text": (t or {}).get("note", "not measured (report from before temporal QA)")}
    passed = t.get("passed") if isinstance(t.get("passed"), bool) else None
    if t.get("ratio") is None:  # measured, but the source does not flicker at all: no ratio to judge
        return {"passed": passed, "text": f"error {t.get('error_artifact')} where its source has none (001 eq. 8)"}
    verdict = {True: "", False: " — over the threshold", None: " (not judged)"}[passed]
    return {"passed": passed, "text": f"{t['ratio']:.2f}x its source's temporal error (001 eq. 8, threshold "
                                      f"{t['threshold_ratio']}x){verdict}"}


def _predicted_fps(report_path: Path, w: int, h: int, cache: dict) -> dict:
    """Predicted phone FPS (vst-predict's calibrated model) for a converted artifact, what the model stands on,
    and what it cannot vouch for (extrapolation, an int8 precision Table II has no point of); fps [] when it
    cannot say."""
    from vst.common.errors import VstError
    from vst.predict.device import PHONES, predict
    key = (str(report_path), w, h)
    if key not in cache:
        fps, caveats, basis = [], {}, ""
        for dev, name in PHONES.items():
            try:
                p = predict(str(report_path), dev, [(w, h)])[0]
            except VstError:
                continue
            fps.append(f"{name} {p.fps:.0f} FPS (predicted, ±{p.loo_mape:.0f}% leave-one-out)")
            basis = (f"{'its modules' if p.model == 'module' else 'the artifact’s graph'}, calibrated on Table II: "
                     f"{p.n_points} points per phone, Core ML float")
            for note in p.extrapolation:
                # the precision caveat in a few words; other notes name what lies outside the calibration
                caveats[("precision " + p.precision + " not calibrated: predicted at float speed per MAC")
                        if note.startswith("precision ") else "extrapolation: " + note] = None
        cache[key] = {"fps": fps, "basis": basis if fps else "", "caveats": list(caveats) if fps else []}
    return cache[key]


def _grouped(rejected: list[tuple[str, str, str]]) -> str:
    """(precision, reason, model) -> 'int8 (fidelity): 15 models; fp16 (temporal): kunster-t2-04': a Table II job
    leaves out dozens of artifacts, one line per kind keeps the table readable."""
    groups: dict[tuple[str, str], list[str]] = {}
    for prec, why, model in rejected:
        groups.setdefault((prec, why), []).append(str(model))
    return "; ".join(f"{p} ({why}): " + (", ".join(ms) if len(ms) <= 3 else f"{len(ms)} models")
                     for (p, why), ms in groups.items())


def summary_rows(inputs: Inputs) -> list[dict]:
    """Per device and input size: the fastest measured artifact (median end-to-end FPS) among those whose
    conversion passed its fidelity threshold, and its temporal one where the report has it. Artifacts without
    a conversion report (zoo names, foreign files) are not candidates: nothing says their output is right."""
    bench = inputs.bench
    if not len(bench):
        return []
    reports = {artifact_key(p, rep): (p, rep) for p, rep in inputs.conversions}
    rows, cache = [], {}
    for (device, res), g in bench.groupby(["device", "resolution"], sort=False):
        ok, rejected, unverified = [], [], 0
        for _, b in g.iterrows():
            hit = reports.get(str(b["artifact"]))
            if hit is None:
                unverified += 1
                continue
            fid = hit[1].get("fidelity") or {}
            temporal = temporal_verdict(hit[1])
            # random weights are not gated (fidelity.passed None); they stay candidates where the same PSNR
            # would pass for trained weights, and the pick says "random weights"
            passed = fid.get("passed") if fid.get("passed") is not None else fid.get("gate_passed_if_trained")
            if passed is True and temporal["passed"] is not False:
                ok.append((b, hit))
            else:
                rejected.append((b["precision"], "temporal" if passed is True else "fidelity", b["model_name"]))
        row = {"device": device, "resolution": res, "rejected": _grouped(rejected),
               "unverified": unverified, "pick": None}
        if ok:
            b, (rp, rep) = max(ok, key=lambda item: float(item[0]["fps_e2e"]))
            w, h = (int(x) for x in res.split("x"))
            runner_up = sorted((float(o[0]["fps_e2e"]) for o in ok), reverse=True)[1:2]
            lo = float(b.get("fps_e2e_ci_low", float("nan")))
            overlap = bool(runner_up) and not math.isnan(lo) and runner_up[0] >= lo
            row["pick"] = {
                "artifact": b["artifact"], "model": b["model_name"], "precision": b["precision"],
                "runtime": b["runtime"], "trained": is_trained(rep),
                "fps": _fps_ci(b, "fps_e2e"), "fps_inference": _fps_ci(b, "fps_inference"),
                "fidelity": conversion_card(rp, rep)["psnr"], "temporal": temporal_verdict(rep)["text"],
                "replicability": b.get("replicability") or "",
                "tie": "the runner-up is inside this interval: measure the two with vst-bench --compare" if overlap
                else "",
                "predicted": _predicted_fps(rp, w, h, cache) if device == "host" else
                {"fps": [], "basis": "", "caveats": []},
                "startup": _startup(b), "memory": _memory(b)}
        rows.append(row)
    return rows


def _num(b, key) -> float | None:
    v = b.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _startup(b) -> str:
    """Model load (and compile) and the first inference, as the runner timed them: what a user waits for."""
    load, first = _num(b, "load_ms"), _num(b, "first_inference_ms")
    if load is None or first is None:
        return "—"
    return f"load {load:.0f} ms, first frame {first:.0f} ms"


def _memory(b) -> str:
    """The runner process's resident memory over the cell: its peak, and what loading the model added."""
    peak, base = _num(b, "memory_peak_mb"), _num(b, "memory_baseline_mb")
    if peak is None:
        return "not recorded"
    text = f"peak {peak:.0f} MiB"
    if base is not None:
        text += f" ({peak - base:+.0f} over the {base:.0f} MiB before load)"
    shared = _num(b, "memory_shared_with")
    if shared:
        text += f"; {shared:.0f} other model(s) in the same process"
    return text


def comparison_rows(inputs: Inputs) -> list[dict]:
    """vst-bench --compare results: each artifact's speed ratio to the first, interleaved on the same frames."""
    out = []
    for path, doc in inputs.comparisons:
        first = doc["entries"][0]
        for e in doc["entries"][1:]:
            lo, hi = e["speed_ratio_ci"]
            out.append({"file": path.name, "size": doc.get("size", "?"), "rounds": doc.get("rounds", "?"),
                        "baseline": f"{first['artifact']} ({first['runtime']} {first.get('precision') or ''})",
                        "artifact": f"{e['artifact']} ({e['runtime']} {e.get('precision') or ''})",
                        "ratio": f"{e['speed_ratio']:.3f}x [{lo:.3f}, {hi:.3f}]",
                        "ms": f"{first['latency_ms_median']:.1f} / {e['latency_ms_median']:.1f}",
                        "resolved": "yes" if e["resolved"] else "no: machine too busy, run longer",
                        "ok": bool(e["resolved"])})
    return out


def plots(inputs: Inputs) -> list[dict]:
    from vst.bench.plots import fps_vs_params, latency_distribution
    out = []
    if len(inputs.bench):
        out.append({"title": "FPS versus parameters (log x), with Table II's published iPhone points",
                    "uri": figure_data_uri(fps_vs_params(inputs.bench))})
    for store in inputs.bench_dirs:
        df = inputs.bench[inputs.bench["store"] == str(store)]
        if len(df):
            out.append({"title": f"Per-frame inference latency ({store.name})",
                        "uri": figure_data_uri(latency_distribution(df, store))})
    return out


def table2_report(bench: pd.DataFrame) -> dict | None:
    """The report's Table II study: None unless the results hold a measured series of Table II
    configurations; else the figure and the fits and correlations as formatted rows."""
    study = table2_study(bench)
    if not study["spearman"]:
        return None
    return {"uri": figure_data_uri(fig6_figure(study)),
            "fits": [{"series": f.label, "resolution": f.resolution, "n": len(f.ids), "a": f"{f.a:.2f}",
                      "b": f"{f.b:.2f}", "r2": f"{f.r2:.3f}"} for f in study["fits"]],
            "spearman": [{**c, "rho": f"{c['rho']:.2f}", "p": f"{c['p']:.2g}"} for c in study["spearman"]]}


def build_context(inputs: Inputs, title: str = "vst report", studies: tuple = ()) -> dict:
    notices = []
    if any(rep["source"].get("random_weights") for _, rep in inputs.conversions):
        notices.append("Some artifacts were converted from random weights (marked below): their speed and op "
                       "support are real, their int8 fidelity is not meaningful, and their sample frames are "
                       "left out.")
    if len(inputs.bench) and (inputs.bench.get("replicability", pd.Series(dtype=str)) != "replicates").any():
        notices.append("Some cells do not replicate by MLPerf's rule (5 runs within 5%): on a shared or "
                       "throttling machine absolute FPS move between runs. Trust the 95% intervals and compare "
                       "candidates with `vst-bench --compare A B`, which times them interleaved and reports "
                       "their ratio; ratios hold where absolute figures do not.")
    columns, left = BENCH_COLUMNS, LEFT_COLUMNS
    if len(inputs.bench) and "store" in inputs.bench:
        from vst.bench.cluster import nodes_caveat, with_nodes
        # where each cell ran, for cells measured on a Ray cluster (vst-bench --ray-address)
        inputs.bench = pd.concat([with_nodes(store, g) for store, g in inputs.bench.groupby("store", sort=False)])
        if inputs.bench["node"].astype(bool).any():
            columns, left = [*BENCH_COLUMNS[:2], "node", *BENCH_COLUMNS[2:]], LEFT_COLUMNS + 1
        if caveat := nodes_caveat(inputs.bench):
            notices.append(caveat[0].upper() + caveat[1:] + ". The picks below rank cells of one device "
                           "and size whatever node measured them.")
    zoo, measured_cols = zoo_rows(inputs.bench)
    # Table II belongs in a report about its configurations: measured ones, or conversions of one
    show_zoo = bool(measured_cols) or any((rep.get("model") or {}).get("zoo_name") in TABLE2_NAMES
                                          for _, rep in inputs.conversions)
    try:
        version = metadata.version("vst")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    return {
        "title": title, "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "vst_version": version, "notices": notices, "zoo_rows": zoo if show_zoo else [], "paper_fps_columns": list(PAPER_FPS),
        "measured_columns": measured_cols,
        "conversions": [conversion_card(p, r) for p, r in inputs.conversions],
        "summary": summary_rows(inputs), "comparisons": comparison_rows(inputs),
        "bench_columns": columns, "bench_left": left,
        "bench_rows": bench_rows(inputs.bench) if len(inputs.bench) else [],
        "plots": plots(inputs), "table2_study": table2_report(inputs.bench), "samples": sample_rows(inputs.conversions),
        "clips": clip_rows(inputs.conversions),
        "studies": [study_section(d, inputs.bench, {r["name"]: r["measured"] for r in zoo}) for d in studies],
        "environment": host_environment(), "commands": inputs.commands,
    }

"""Sample frames: the same real photo through each precision of one model, so quantization damage is seen.
Drawn from the outputs vst-convert stored beside each report; no model runs here."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from vst.common.images import resize_cover, sample_photos
from vst.common.records import precision, read_sample
from vst.metrics.quality import psnr
from vst.reports.figures import png_data_uri, video_data_uri

SAMPLE_PHOTO = "chelsea"
PRECISION_ORDER = {"fp32": 0, "fp16": 1, "int8": 2, "int8-dynamic": 3, "int8-temporal": 4}


def is_trained(rep: dict) -> bool:
    """A conversion of trained weights (the report's model record says so; random-weight sources never are)."""
    return bool((rep.get("model") or {}).get("trained")) and not rep["source"].get("random_weights")


def sample_rows(conversions: list[tuple[Path, dict]], photo: str = SAMPLE_PHOTO) -> list[dict]:
    """One row per trained (model, size, target): input | fp32 | fp16 | int8, each labelled with PSNR against
    fp32. Random-weight models are left out: their pictures are noise and would only make the page heavy."""
    groups: dict[tuple, list[tuple[Path, dict]]] = defaultdict(list)
    for path, rep in conversions:
        if is_trained(rep) and photo in (rep.get("samples") or {}).get("photos", {}):
            key = (rep["source"]["name"], rep["size"]["width"], rep["size"]["height"], rep["target"])
            groups[key].append((path, rep))
    image = sample_photos((photo,))[photo]
    rows = []
    for (name, w, h, target), items in sorted(groups.items()):
        cells = [{"label": f"input {w}x{h}", "uri": png_data_uri(resize_cover(image, w, h))}]
        reference = None
        for path, rep in sorted(items, key=lambda pr: PRECISION_ORDER.get(precision(pr[1]), 9)):
            out = read_sample(path, rep["samples"]["photos"][photo])
            if out is None:
                continue
            label = f"{precision(rep)} ({target})"
            if reference is None and rep["quant"] == "fp32":
                reference = out
            elif reference is not None:
                label += f", {psnr(reference, out, peak=255):.1f} dB vs fp32"
            cells.append({"label": label, "uri": png_data_uri(out)})
        rows.append({"title": f"{Path(name).name} at {w}x{h}", "frames": cells})
    return rows


def clip_rows(conversions: list[tuple[Path, dict]],
              precisions: tuple[str, ...] = ("fp32", "int8", "int8-dynamic")) -> list[dict]:
    """One looping clip per (model, size, target) with a stored temporal clip: input | fp32 | int8 | int8-dynamic
    side by side (those there are), as an embedded looping H.264 video no wider than the page."""
    groups: dict[tuple, dict[str, tuple[Path, dict]]] = defaultdict(dict)
    for path, rep in conversions:
        if (rep.get("temporal") or {}).get("clip") and precision(rep) in precisions:
            key = (rep["source"]["name"], rep["size"]["width"], rep["size"]["height"], rep["target"])
            groups[key][precision(rep)] = (path, rep)
    rows = []
    for (name, w, h, target), by_quant in sorted(groups.items()):
        first_path, first = next(iter(by_quant.values()))
        columns = [[read_sample(first_path, f) for f in first["temporal"]["clip"]["input"]]]
        labels = ["input"]
        for q in precisions:
            if q in by_quant:
                path, rep = by_quant[q]
                columns.append([read_sample(path, f) for f in rep["temporal"]["clip"]["output"]])
                ratio = rep["temporal"].get("ratio")
                labels.append(f"{q}" + (f" ({ratio:.2f}x source flicker)" if ratio is not None else ""))
        n = min(len(c) for c in columns)
        if n == 0 or any(f is None for c in columns for f in c[:n]):
            continue
        frames = [np.concatenate([c[t] for c in columns], axis=1) for t in range(n)]
        rows.append({"title": f"{Path(name).name} at {w}x{h} ({target})", "caption": " | ".join(labels),
                     "uri": video_data_uri(frames)})
    return rows

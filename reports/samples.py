"""Sample frames: the same real photo through each precision of one model, so quantization damage is seen."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from vst.common.images import resize_cover, sample_photos
from vst.metrics.quality import psnr
from vst.reports.figures import png_data_uri

SAMPLE_PHOTO = "chelsea"
PRECISION_ORDER = {"fp32": 0, "fp16": 1, "int8": 2}
RUNNABLE_HERE = {"tflite", "onnx"}


def _artifact_of(report_path: Path) -> Path:
    # the artifact sits beside its report: <artifact>.report.json
    return report_path.with_name(report_path.name[: -len(".report.json")])


def run_artifact(path: Path, rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 frame through an artifact with the benchmark's host runner; RGB uint8 out."""
    from vst.bench.artifacts import input_spec, resolve_artifact
    from vst.bench.host import RUNNERS
    art = resolve_artifact(str(path))
    spec = input_spec(art)
    width, height = spec.size or (rgb.shape[1], rgb.shape[0])
    runner = RUNNERS[art.runtime](art, spec, width, height, 2, "xnnpack" if art.runtime == "litert" else "cpu")
    out = np.asarray(runner.infer(runner.prepare(resize_cover(rgb, width, height))))[0]
    if out.dtype.kind in "iu":
        scale, zero = runner.it.get_output_details()[0]["quantization"]
        out = (out.astype(np.float32) - zero) * scale
    if out.shape[0] == 3 and out.shape[-1] != 3:
        out = out.transpose(1, 2, 0)
    return (np.clip(out.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


def sample_rows(conversions: list[tuple[Path, dict]], photo: str = SAMPLE_PHOTO) -> list[dict]:
    """One row per (model, size, target): input | fp32 | fp16 | int8, each labelled with PSNR against fp32."""
    groups: dict[tuple, list[tuple[Path, dict]]] = defaultdict(list)
    for path, rep in conversions:
        if rep["target"] in RUNNABLE_HERE and _artifact_of(path).exists():
            key = (rep["source"]["name"], rep["size"]["width"], rep["size"]["height"], rep["target"])
            groups[key].append((path, rep))
    image = sample_photos((photo,))[photo]
    rows = []
    for (name, w, h, target), items in sorted(groups.items()):
        frame = resize_cover(image, w, h)
        cells = [{"label": f"input {w}x{h}", "uri": png_data_uri(frame)}]
        reference = None
        for path, rep in sorted(items, key=lambda pr: PRECISION_ORDER.get(pr[1]["quant"], 9)):
            out = run_artifact(_artifact_of(path), frame)
            label = f"{rep['quant']} ({target})"
            if reference is None and rep["quant"] == "fp32":
                reference = out
            elif reference is not None:
                label += f", {psnr(reference, out, peak=255):.1f} dB vs fp32"
            cells.append({"label": label, "uri": png_data_uri(out)})
        random = any(rep["source"].get("random_weights") for _, rep in items)
        rows.append({"title": f"{Path(name).name} at {w}x{h}" + (" (random weights)" if random else ""),
                     "frames": cells})
    return rows

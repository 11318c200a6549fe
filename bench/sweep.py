"""Sweeps: artifacts x resolutions x delegates on one device, cell by cell into the results store, resumable.

`run_sweep` (any device) and `run_host` (this machine) are the Python API behind `vst-bench`.
"""
from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd
from tqdm import tqdm

from vst.bench.artifacts import RUNTIMES_BY_PLATFORM, Artifact, input_spec, resolve_artifact
from vst.bench.devices import Device, load_registry, resolve_device
from vst.bench.plan import frames_per_repeat, make_plan
from vst.common.fsutil import sha256_of
from vst.common.progress import bar
from vst.bench.store import INDEX, load_results, reconcile, save_result, scan_results, store_lock
from vst.video.codec import paper_clip, probe
from vst.common.cli import parse_size
from vst.models.profile import PAPER_RESOLUTIONS
from vst.common.errors import VstError
from vst.runtimes.table import DELEGATES


# one frame gives no spread and no steady state: every repeat would be its first inference
MIN_CLIP_FRAMES = 2


@dataclass
class Protocol:
    """Warmup, measurement and repetition settings shared by every cell of a sweep."""
    warmup_frames: int = 10
    warmup_seconds: float = 1.0
    measure_frames: int | None = None      # None: the whole clip, as 000 did
    measure_seconds: float | None = None
    repeats: int = 3
    cooldown_s: float = 2.0
    threads: int | None = None


def parse_resolutions(text: str) -> list[tuple[int, int]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        out.append(parse_size(part))
    if not out:
        raise VstError("no resolutions given; use e.g. --resolutions 480x320,320x240")
    return out


def _driver(device: Device):
    if device.props.get("runner"):
        from vst.bench.drivers_native import NativeDriver
        return NativeDriver(device)
    if device.platform == "android":
        from vst.bench.drivers_android import AndroidDriver
        return AndroidDriver(device)
    if device.platform == "ios":
        from vst.bench.drivers_ios import IOSDriver
        return IOSDriver(device)
    return None


def plan_cells(device: Device, artifacts: Sequence[Artifact], resolutions: Sequence[tuple[int, int]],
               clip: Path, protocol: Protocol, delegates: Sequence[str] | None = None) -> list[tuple[dict, Artifact]]:
    """Every (plan, artifact) of the sweep. Artifacts with a fixed input size run at that size only."""
    info = probe(clip)
    if info.frames < MIN_CLIP_FRAMES:
        raise VstError(f"video {clip} has {info.frames} frame(s); a measurement needs {MIN_CLIP_FRAMES} at least: "
                       "give a longer clip")
    if protocol.measure_frames and protocol.measure_frames > info.frames:
        raise VstError(f"--frames {protocol.measure_frames} is more than the {info.frames} frames of {clip}; "
                       "give fewer frames or a longer clip")
    source = {"kind": "video", "path": str(clip), "sha256": sha256_of(clip), "width": info.width,
              "height": info.height, "fps": info.fps, "frames": info.frames}
    cells = []
    valid = {d for (plat, _), ds in DELEGATES.items() if plat == device.platform for d in ds}
    bad = [d for d in delegates or () if d not in valid]
    if bad:
        raise VstError(f"{device.name} takes delegates {', '.join(sorted(valid))}, not {', '.join(bad)}")
    if device.props.get("runner"):
        from vst.bench.drivers_native import DELEGATES as NATIVE
        bad = [d for d in delegates or () if d not in NATIVE]
        if bad:
            raise VstError(f"{device.name} runs LiteRT's CPU (xnnpack) or GPU accelerator, not {', '.join(bad)}")
        delegates = [d for d in delegates or () if d in NATIVE] or ["xnnpack"]
        wrong = [a.label for a in artifacts if a.runtime != "litert"]
        if wrong:
            raise VstError(f"{device.name} runs .tflite files (LiteRT's C API), not {', '.join(wrong)}; convert "
                           "with vst-convert --to tflite or measure them on --device host")
    for art in artifacts:
        if art.runtime not in RUNTIMES_BY_PLATFORM[device.platform]:
            raise VstError(f"{art.label} is a {art.format} artifact ({art.runtime}); {device.name} runs "
                           f"{', '.join(sorted(RUNTIMES_BY_PLATFORM[device.platform]))}")
        spec = input_spec(art)
        sizes = [spec.size] if spec.size else list(resolutions)
        for w, h in sizes:
            allowed = DELEGATES[(device.platform, art.runtime)]
            # a mixed sweep (say .tflite and .onnx) applies each requested delegate where it exists
            chosen = [d for d in delegates or () if d in allowed] or [allowed[0]]
            for delegate in chosen:
                plan = make_plan(device=device.name, runtime=art.runtime, artifact=art.plan_entry(), width=w,
                                 height=h, layout=spec.layout, frame_source=source,
                                 warmup_frames=protocol.warmup_frames, warmup_seconds=protocol.warmup_seconds,
                                 measure_frames=protocol.measure_frames, measure_seconds=protocol.measure_seconds,
                                 repeats=protocol.repeats, cooldown_s=protocol.cooldown_s, threads=protocol.threads,
                                 delegate=delegate)
                cells.append((plan, art))
    return cells


def resolve_artifacts(specs: Sequence[str], bind: dict | None = None) -> list[Artifact]:
    """Artifacts of a command line, with --bind values handed to the ONNX files that take them; a --bind no
    artifact takes is a typo, not something to ignore."""
    arts = [resolve_artifact(a, bind) for a in specs]
    unused = set(bind or {}) - {k for a in arts for k in (a.bind or {})}
    if unused:
        raise VstError(f"--bind {', '.join(sorted(unused))}: none of the models takes such an input; "
                       "drop it or check the input name (vst-convert's report lists a model's inputs)")
    return arts


def run_sweep(device: str, artifacts: Sequence[str], resolutions: Sequence[tuple[int, int]] = PAPER_RESOLUTIONS,
              out_dir: str | Path = "bench_results", protocol: Protocol | None = None, video: str | Path | None = None,
              delegates: Sequence[str] | None = None, devices_file: str | Path | None = None,
              progress: bool = True, log=print, bind: dict | None = None, interleave: bool = True,
              ray_address: str | None = None) -> pd.DataFrame:
    """Measure every cell not already in `out_dir`; returns load_results(out_dir). Resumable after any kill.
    On the host the cells take turns repeat by repeat (interleave=False: each cell's repeats back to back);
    phone drivers run a whole cell per launch of the app, so phone sweeps stay cell by cell.
    `ray_address`: measure the cells as tasks of that Ray cluster ("local": an embedded one; vst.bench.cluster),
    their results stored in `out_dir` all the same."""
    protocol = protocol or Protocol()
    out_dir = Path(out_dir)
    registry = load_registry(devices_file)
    names = [n.strip() for n in device.split(",") if n.strip()] if isinstance(device, str) else list(device)
    if len(set(names)) != len(names) or not names:
        raise VstError(f"--device {device}: give each device once, e.g. --device host,swift-linux,kotlin-jvm")
    if ray_address:
        from vst.bench.cluster import connect, resolve_on_cluster
        if len(names) > 1:
            raise VstError("--ray-address measures one --device per sweep (the host's nodes or one phone); run "
                           "this machine's runners side by side without it")
        connect(ray_address)
        devs = [resolve_on_cluster(names[0], registry)]
    else:
        local = [n for n, e in registry.items() if e["platform"] == "host"]
    if len(names) > 1 and any(n not in local for n in names):
        raise VstError(f"several devices in one sweep are for this machine's runners ({', '.join(local)}), "
                       "measured turn by turn; run each phone with its own --device")
    devs = [resolve_device(n, registry) for n in names]
    arts = resolve_artifacts(artifacts, bind)
    clip = Path(video) if video else paper_clip()
    if not clip.exists():
        raise VstError(f"video {clip} does not exist; give an H.264 file or leave --video out for the 1080p clip")
    cells = [c for dev in devs for c in plan_cells(dev, arts, resolutions, clip, protocol, delegates)]
    for art in arts:
        fixed = input_spec(art).size
        others = [f"{w}x{h}" for w, h in resolutions if (w, h) != tuple(fixed or ())]
        # said when none of the sizes asked for applies: a job converting one artifact per size asks for all
        # its sizes, and each artifact running at its own one is what it meant
        if fixed and len(others) == len(resolutions):
            log(f"{art.label} has a fixed {fixed[0]}x{fixed[1]} input: it runs at that size only, not at "
                f"{', '.join(others)} (convert it at another --size for those)")
    # everything is validated: only now may --out be created
    with store_lock(out_dir):
        return _measure(devs, cells, clip, out_dir, progress, log, interleave, ray_address)


def _say(write, row: dict) -> None:
    """The line printed as each cell is stored."""
    lo, hi = row["fps_inference_ci"]
    ci = f" [95% CI {lo:.1f}-{hi:.1f}]" if lo == lo and hi == hi else ""  # NaN under 3 repeats
    drift = f", machine drift {100 * row['drift']:+.0f}%" if row.get("drift") is not None else ""
    where = "" if row["device"] == "host" else f"[{row['device']}] "
    write(f"{where}{row['artifact']} {row['resolution']} {row['delegate_used']}: "
          f"{row['fps_e2e']:.1f} fps end to end, {row['fps_inference']:.1f} fps inference{ci}; "
          f"{row['replicability']} (repeat spread {100 * row['repeat_spread']:.0f}%){drift}")


def _measure(devs: list[Device], cells: list[tuple[dict, Artifact]], clip: Path, out_dir: Path, progress: bool,
             log, interleave: bool = True, ray_address: str | None = None) -> pd.DataFrame:
    from vst.bench.interleave import measure_interleaved, partial_path
    done, damaged = scan_results(out_dir)
    for cell, why in damaged.items():
        log(f"measuring cell {cell} again: its result file is damaged ({why})")
    if reconcile(out_dir, done):
        log(f"repaired the index {out_dir / INDEX} from the result files")
    todo = [(p, a) for p, a in cells if p["cell_id"] not in done]
    if len(todo) < len(cells):
        log(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already measured in {out_dir}")
    for cell in done:  # repeats kept for a cell that has since been stored
        partial_path(out_dir, cell).unlink(missing_ok=True)
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
    if ray_address:     # each node drives its own phones: nothing is prepared here
        from vst.bench.cluster import measure_on_cluster

        def store(result):
            _say(tqdm.write, save_result(out_dir, result))
            partial_path(out_dir, result["plan"]["cell_id"]).unlink(missing_ok=True)
        measure_on_cluster(devs[0], todo, run_id, progress, log, store, _driver)
        return load_results(out_dir)
    drivers = {d.name: _driver(d) for d in devs}
    needed = {p["device"] for p, _ in todo}
    for name, driver in drivers.items():
        if driver and name in needed:
            if getattr(driver, "platform", None) == "host":
                log(f"building the {name} runner (reruns take seconds)")
            driver.prepare()
    local = {name: drv for name, drv in drivers.items() if getattr(drv, "platform", None) == "host"}
    kept = any(partial_path(out_dir, p["cell_id"]).exists() for p, _ in todo)
    # one cell left with repeats kept from an interrupted interleaved run also goes this way: they are not lost
    if all(d.platform == "host" for d in devs) and interleave and (len(todo) > 1 or kept) and \
            any(p["repeats"] > 1 for p, _ in todo):
        measure_interleaved(todo, out_dir, run_id, progress, log, lambda row: _say(tqdm.write, row), local)
        return load_results(out_dir)
    desc = f"vst-bench {','.join(d.name for d in devs)}"
    cells_bar = bar(todo, desc=desc, unit="cell", progress=progress, position=0)
    for plan, art in cells_bar:
        cells_bar.set_postfix_str(f"{art.label} {plan['input']['width']}x{plan['input']['height']} {plan['delegate']}")
        driver = drivers[plan["device"] if len(devs) > 1 else devs[0].name]
        if driver is None:
            from vst.bench.host import execute_plan
            # frames inside the cell: e2e then inference-only per repeat; tqdm's rate gives the estimate
            per_repeat = frames_per_repeat(plan)
            with bar(total=2 * per_repeat * plan["repeats"] if per_repeat else None, unit="frame", leave=False,
                     desc="  frames", progress=progress, position=1) as inner:
                result = execute_plan(plan, art, run_id, tick=lambda: inner.update(1))
        else:
            with tempfile.TemporaryDirectory() as work:
                result = driver.run_cell(plan, art.path, clip, Path(work))
                result["run_id"] = run_id
        _say(cells_bar.write, save_result(out_dir, result))
        partial_path(out_dir, plan["cell_id"]).unlink(missing_ok=True)  # an interleaved run's, now superseded
    return load_results(out_dir)


def run_host(artifacts: Sequence[str], resolutions: Sequence[tuple[int, int]] = PAPER_RESOLUTIONS,
             out_dir: str | Path = "bench_results", **kwargs) -> pd.DataFrame:
    """Host sweep: LiteRT (.tflite), ONNX Runtime (.onnx), PyTorch (.safetensors or zoo name) on this machine."""
    return run_sweep("host", artifacts, resolutions, out_dir, **kwargs)

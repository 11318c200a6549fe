"""vst.reports: one self-contained HTML report from conversion reports and benchmark stores (`vst-report`),
and the main job that produces them end to end (`vst-run`)."""
from pathlib import Path


def build_report(paths: list[str | Path], out: str | Path, title: str = "vst report",
                 studies: list[str | Path] = ()) -> Path:
    """`studies`: `vst-train --study` folders, shown beside the results (000 Fig. 8's section)."""
    from vst.reports.collect import Inputs, collect
    from vst.reports.context import build_context
    from vst.reports.render import write_html
    from vst.training.study import load_study
    for folder in studies:
        load_study(folder)  # a wrong folder is a one-line error before any work
    inputs = collect(paths) if paths else Inputs()
    return write_html(build_context(inputs, title, tuple(studies)), out)


__all__ = ["build_report"]

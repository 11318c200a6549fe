"""vst.reports: one self-contained HTML report from conversion reports and benchmark stores (`vst-report`),
and the main job that produces them end to end (`vst-run`)."""
from pathlib import Path


def build_report(paths: list[str | Path], out: str | Path, title: str = "vst report") -> Path:
    from vst.reports.collect import collect
    from vst.reports.context import build_context
    from vst.reports.render import write_html
    return write_html(build_context(collect(paths), title), out)


__all__ = ["build_report"]

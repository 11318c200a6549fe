"""Render the report's context into one self-contained HTML file (Jinja2, autoescaped)."""
from __future__ import annotations

from pathlib import Path

import jinja2

from vst.common.fsutil import atomic_write_text


def environment() -> jinja2.Environment:
    # autoescape everything: model names, paths and commands come from files users hand us
    return jinja2.Environment(loader=jinja2.PackageLoader("vst.reports", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def render_html(context: dict) -> str:
    return environment().get_template("report.html.j2").render(**context)


def write_html(context: dict, out: str | Path) -> Path:
    out = Path(out)
    atomic_write_text(out, render_html(context))
    return out

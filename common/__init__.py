"""Pieces every vst subpackage shares: user-facing errors, CLI entry wrapper, atomic writes."""
from vst.common.errors import VstError
from vst.common.cli import run_cli
from vst.common.fsutil import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["VstError", "run_cli", "atomic_path", "atomic_write_bytes", "atomic_write_text"]

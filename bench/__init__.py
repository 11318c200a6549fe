"""vst.bench: benchmark converted stylizers on the host or phones (`vst-bench`; docs/bench.md).

Python API: run_host / run_sweep (measure), load_results (one row per cell), fps_vs_params and
latency_distribution (matplotlib figures), timed_rounds (vst-bench --compare's interleaved loop, BLOCK timed
calls per runner a turn) for any callables. Attributes load lazily so that `import vst.bench.plan` stays light.
"""
from importlib import import_module

_API = {"run_host": "sweep", "run_sweep": "sweep", "Protocol": "sweep", "load_results": "store",
        "import_results": "store", "load_result": "store", "fps_vs_params": "plots",
        "latency_distribution": "plots", "save_plots": "plots", "timed_rounds": "compare", "BLOCK": "compare"}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(import_module(f"vst.bench.{_API[name]}"), name)
    raise AttributeError(f"module 'vst.bench' has no attribute {name!r}")

"""What every rewrite shares: its registration (targets, precisions, the reason it may skip, the copy and prune
done for it) and its proof on real images."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from vst.convert.ir import Graph, run_numpy

# A rewrite is kept only if its output matches the unrewritten graph this closely on real images.
EXACT_PSNR_DB = 60.0


@dataclass
class PassResult:
    name: str
    applied: bool
    detail: str

    def as_dict(self) -> dict:
        return {"name": self.name, "applied": self.applied, "detail": self.detail}


@dataclass(frozen=True)
class Rewrite:
    """An exact rewrite of the IR, registered by `@rewrite`. Calling it returns a rewritten copy of the graph and
    the number of sites it changed; `edit` changes that copy in place. `targets`: the targets whose files it
    helps; `precisions`: those it runs for (None: every one; keys as in PRECISION_PIPELINES, dynamic-range int8
    apart), `why_not` the reason the others leave it out; `elsewhere`: why the other targets leave it out, where
    that is this rewrite's own reason rather than the target's (its rewrite_note); `prune`: drop what the edit
    left unused."""
    name: str
    edit: Callable[[Graph], int]
    targets: tuple[str, ...]
    precisions: tuple[str, ...] | None = None
    why_not: str | None = None
    prune: bool = True
    elsewhere: str | None = None

    def __call__(self, graph: Graph) -> tuple[Graph, int]:
        g = graph.copy()
        count = self.edit(g)
        if self.prune:
            g.prune()
        return g, count

    def skip_reason(self, target: str, target_reason: str, precision: str) -> str | None:
        """Why this rewrite is not run for `target` at `precision` (None: it runs)."""
        if target not in self.targets:
            return f"not needed for {target}: {self.elsewhere or target_reason}"
        if self.precisions is not None and precision not in self.precisions:
            return f"not needed for {precision}: {self.why_not}"
        return None


# Every rewrite by name, in registration order (the order of ORDER below is the one they run in).
REGISTRY: dict[str, Rewrite] = {}
TFLITE_ONLY = ("tflite",)
# Rewrites for XNNPACK's sake serve it under both runtimes that run it: LiteRT and ExecuTorch
XNNPACK_TARGETS = ("tflite", "executorch")


def rewrite(*, targets: tuple[str, ...], precisions: tuple[str, ...] | None = None, why_not: str | None = None,
            prune: bool = True, elsewhere: str | None = None) -> Callable[[Callable[[Graph], int]], Rewrite]:
    """Register a function that edits a graph in place and returns how many sites it changed."""
    def register(edit: Callable[[Graph], int]) -> Rewrite:
        if edit.__name__ in REGISTRY:
            raise ValueError(f"rewrite {edit.__name__} registered twice")
        if (precisions is None) != (why_not is None):
            raise ValueError(f"rewrite {edit.__name__}: precisions and why_not go together")
        REGISTRY[edit.__name__] = r = Rewrite(edit.__name__, edit, tuple(targets),
                                              tuple(precisions) if precisions else None, why_not, prune,
                                              elsewhere)
        return r
    return register


def prove_and_apply(graph: Graph, name: str, images_nchw: np.ndarray) -> tuple[Graph, PassResult]:
    """Run one rewrite; keep it only if outputs on real images stay >= EXACT_PSNR_DB from the unrewritten graph."""
    new, res, _ = prove(graph, name, images_nchw)
    return new, res


def prove(graph: Graph, name: str, images_nchw: np.ndarray, ref: np.ndarray | None = None
          ) -> tuple[Graph, PassResult, np.ndarray | None]:
    """prove_and_apply for a chain of rewrites: `ref` is `graph`'s output on the images if a previous proof
    already computed it (None: run it here); returns the kept graph, the result and the kept graph's output
    (None when nothing ran), so each graph of the chain runs once, not twice."""
    from vst.convert.verify import compare
    new, count = REGISTRY[name](graph)
    if count == 0:
        return graph, PassResult(name, False, "nothing to rewrite in this model"), ref
    new.infer_shapes()
    ref = run_numpy(graph, images_nchw) if ref is None else ref
    got = run_numpy(new, images_nchw)
    res = judge(name, count, compare(ref, got), len(images_nchw))
    return (new, res, got) if res.applied else (graph, res, ref)


def judge(name: str, count: int, cmp: dict, n_images: int) -> PassResult:
    """The verdict on a rewrite of `count` sites from its comparison (verify.compare) with the unrewritten
    model on `n_images` real images: kept at >= EXACT_PSNR_DB. Shared by the IR rewrites and the torch-level
    ones (vst.convert.torch_rewrites)."""
    if cmp["psnr_db"] < EXACT_PSNR_DB:
        return PassResult(name, False, f"skipped: rewrite of {count} site(s) not exact on this model "
                                       f"(PSNR {cmp['psnr_db']:.1f} dB < {EXACT_PSNR_DB} dB)")
    return PassResult(name, True, f"{count} site(s) rewritten; PSNR {_db(cmp['psnr_db'])} vs unrewritten on "
                                  f"{n_images} real image(s), max abs err {cmp['max_abs_err']:.2e}")


def _db(v: float) -> str:
    return "inf dB (bit-identical)" if v == float("inf") else f"{v:.1f} dB"

"""A target: one registered emitter behind one interface. It takes a Conversion (the rewritten IR or, where the
native import refused the model, the source) and returns an Emitted (the artifact's bytes or writer, the target's
part of the report, and the artifact's outputs on the verification photos). convert() writes the artifact."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from vst.common.errors import VstError
from vst.common.fsutil import atomic_path
from vst.convert.passes import PassResult
from vst.runtimes.table import TARGETS as TARGET_TABLE


@dataclass
class Conversion:
    """What an emitter reads: the front (source, export, import, reference outputs), the rewritten IR (None when
    the native import refused), the asked precision and layout, and the report's pass list to append to."""
    front: Any                      # vst.convert.front.Front
    graph: Any                      # vst.convert.ir.Graph, or None
    quant: str
    io_layout: str
    size: tuple[int, int]
    calib_batch: np.ndarray | None
    passes: list[PassResult]
    rewrites_applied: tuple[str, ...] = ()
    temporal: bool = False
    dynamic: bool = False
    checks: str = "full"
    gpu_check: bool = True          # run the artifact on this machine's GPU accelerator (TFLite)

    @property
    def images(self) -> np.ndarray:
        return self.front.images

    @property
    def ref_out(self) -> np.ndarray:
        return self.front.ref_out

    @property
    def ref_kind(self) -> str:
        return self.front.ref_kind

    @property
    def src_transposes(self) -> int:
        return sum(n.op_type == "Transpose" for n in self.front.static.graph.node)


@dataclass
class Emitted:
    """An emitter's result. `artifact`: the file's bytes, or a function that writes it (a package folder) at the
    path it is given; `record`: the target's fields of the conversion report; `outputs`: the artifact's outputs on
    the verification photos (None where this machine cannot run it)."""
    artifact: bytes | Callable[[Path], None]
    record: dict
    outputs: np.ndarray | None
    conversion_path: dict = field(default_factory=lambda: {"produced_by": "native"})


class Target:
    """A registered target. Subclasses set `name` and `rewrite_note` and implement `emit` (and `emit_refused` where
    a converter of another make can take what the native import refused)."""
    name: ClassVar[str]
    rewrite_note: ClassVar[str] = ""      # why it needs fewer rewrites than TFLite (none: it takes them all)
    runs_here: ClassVar[bool] = True      # this machine runs its files (the temporal QA needs that)
    needs_ir: ClassVar[bool] = True       # it emits from the IR (else from the source graph itself)
    file_tag: ClassVar[str] = ""          # in the default file name, where targets share a suffix (.pte)
    # a folder artifact: what it is called, and the entries a package vst wrote holds (the first always); None: a file
    package: ClassVar[tuple[str, tuple[str, ...]] | None] = None

    @property
    def suffix(self) -> str:
        return TARGET_TABLE[self.name]["suffix"]

    def emit(self, c: Conversion) -> Emitted:
        raise NotImplementedError

    def refused_import_note(self, src, refusal: str) -> str | None:
        """What the report's import step says when the native import refused `src` (`refusal` says why); None
        when this target has no other way to the file (the refusal then stands)."""
        return None

    def emit_refused(self, c: Conversion) -> Emitted:
        """The native import refused the model (c.front.refusal): convert it another way or say why not."""
        raise VstError(c.front.refusal)

    def artifact_inputs(self, inputs: list[dict], c: Conversion) -> list[dict]:
        """The report's input records as the artifact names and lays them out (the source's by default)."""
        return inputs

    def temporal_feeds(self, c: Conversion) -> dict | None:
        """The kept inputs' values the temporal QA feeds the artifact, by the artifact's input names."""
        return None

    def temporal_runner(self, c: Conversion, out: Path):
        """What runs the written artifact for the temporal QA (an NCHW batch in, NCHW out) where vst's runtime
        sessions do not open it; None: the session of its runtime."""
        return None

    def accelerator_checks(self, c: Conversion, out: Path, emitted: Emitted) -> dict:
        """Report fields measured on the written artifact by the accelerators this machine has (none by
        default); they replace the emitter's fields of the same name."""
        return {}


REGISTRY: dict[str, Target] = {}


def register(cls: type[Target]) -> type[Target]:
    """Class decorator: one instance of each target, by name. The name must be in the runtimes' target table."""
    if cls.name in REGISTRY:
        raise ValueError(f"target {cls.name} registered twice")
    if cls.name not in TARGET_TABLE:
        raise ValueError(f"target {cls.name} is not in vst.runtimes.table.TARGETS")
    REGISTRY[cls.name] = cls()
    return cls


def write_artifact(out: Path, artifact: bytes | Callable[[Path], None]) -> None:
    """The one place an artifact is written: atomically, so a failure leaves nothing at `out`."""
    if isinstance(artifact, bytes):
        with atomic_path(out) as tmp:
            tmp.write_bytes(artifact)
    else:
        artifact(out)       # writers replace the target atomically themselves (coreml.save)

"""The op table: each IR op registered once with everything that knows it, and the ONNX importers.

An IR op is a class registered under its name(s) with `@register`; one instance serves every node. It holds
  reference(ctx, node, ins) -> tensor    PyTorch, NCHW (ir.run_graph; ctx: ir.Reference)
  tensorflow(ctx, node, x, nm) -> tensor the TFLite lowering (tflite.build_tf_function; ctx: tflite.Lowering)
  mil(ctx, node, x, nm) -> var           the Core ML lowering (coreml.build_program; ctx: coreml.Lowering)
where ins are the node's input tensors, x its first input and nm the name the walker gives its output. A target
without a lowering for an op leaves it None: its walker refuses the op by name. TensorFlow, coremltools and
torch come in through the context, so they load only when a walker runs.

An ONNX op type is imported by one function registered with `@imports`, in the module of the IR op it makes.
It reads the node through the import context (onnx_import.ImportContext: a, ins, out, nm, src_perm, consts,
perm, alias, nodes, marks, done; add, const, unsupported, plain, ir_const, producer, users, shape_of,
model_shape) and adds IR nodes with ctx.add. An importer of a pattern of several ONNX nodes (torch's GroupNorm)
adds their IR nodes at the first and puts the other nodes' outputs in ctx.done, and the walk passes them by. `keeps_layout`: the result keeps its input's layout permutation (see onnx_import.to_ir).

The package imports nothing of vst.convert but delegates.py: ir.py runs graphs through the table, so the table
sits below it, and each walker defines the context it hands over.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from vst.common.errors import InternalError, VstError

IDENTITY = (0, 1, 2, 3)      # the layout permutation of a tensor in the IR's own (NCHW) order


class UnsupportedOp(VstError):
    """The native emitters cannot take this graph (an op, or an op's form); another path may (convert/fallback)."""


class Op:
    """One IR op; subclasses define reference and the lowerings their targets have."""
    tensorflow: Callable | None = None
    mil: Callable | None = None

    def reference(self, ctx, node, ins):
        raise NotImplementedError


REGISTRY: dict[str, Op] = {}


def register(*names: str):
    """Class decorator: the IR op(s) `names` are this class (a family such as the unary ops shares one)."""
    def deco(cls):
        for name in names:
            if name in REGISTRY:
                raise InternalError(f"IR op {name!r} registered twice")
            REGISTRY[name] = cls()
        return cls
    return deco


@dataclass(frozen=True)
class Importer:
    fn: Callable
    keeps_layout: bool


IMPORTERS: dict[str, Importer] = {}


def imports(*onnx_types: str, keeps_layout: bool = False):
    """Function decorator: the importer of the ONNX op type(s) `onnx_types`."""
    def deco(fn):
        for t in onnx_types:
            if t in IMPORTERS:
                raise InternalError(f"ONNX op {t!r} has two importers")
            IMPORTERS[t] = Importer(fn, keeps_layout)
        return fn
    return deco


def unit_moves(src: list[int], dst: list[int]) -> tuple[int, ...] | None:
    """The permutation (of rank-4 tensors, lower ranks with 1s before their axes) that a reshape from `src` to
    `dst` amounts to when it only moves unit axes ([1, C, 1, 1] <-> [1, 1, 1, C] <-> [1, C]); None when it
    does more."""
    if len(src) > 4 or len(dst) > 4:
        return None
    src, dst = [1] * (4 - len(src)) + list(src), [1] * (4 - len(dst)) + list(dst)
    big_src, big_dst = [k for k in range(4) if src[k] != 1], [k for k in range(4) if dst[k] != 1]
    if [src[k] for k in big_src] != [dst[k] for k in big_dst]:
        return None
    units = iter(k for k in range(4) if src[k] == 1)
    order = iter(big_src)
    return tuple(next(order) if dst[k] != 1 else next(units) for k in range(4))

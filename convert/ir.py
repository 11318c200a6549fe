"""A small graph IR for image-to-image networks, imported from ONNX, run by a PyTorch reference executor.

Why not rewrite the ONNX graph directly: the target emitters (TFLite in NHWC, Core ML in NCHW) need ops ONNX
lacks (rsqrt, a repeat along one axis), and every 4-D tensor here has one logical NCHW meaning that each emitter
maps to its own physical layout. Axes in this IR are always logical NCHW. The ops themselves, each with its
import, reference execution and lowerings, are in vst.convert.ops; run_graph looks each node's op up there.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vst.common.errors import InternalError, VstError
from vst.convert.ops import REGISTRY, UnsupportedOp  # noqa: F401  (UnsupportedOp: users of the IR catch it here)


def input_name(name: str) -> str:
    """The name a kept input has in a TFLite artifact (the converter takes [A-Za-z0-9_] signature names)."""
    import re
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


@dataclass
class Node:
    op: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass
class Graph:
    """One image input and one image output. Extra source inputs are bound to constants at import, or kept
    (`extra`: name -> a sample value, logical NCHW, fed wherever the graph runs without an explicit feed, so
    rewrites are proven and artifacts verified on it)."""
    input: str
    output: str
    input_shape: tuple[int, int, int, int]            # N, C, H, W
    nodes: list[Node]
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def copy(self) -> "Graph":
        return Graph(self.input, self.output, self.input_shape, copy.deepcopy(self.nodes), dict(self.consts),
                     dict(self.shapes), dict(self.extra))

    def histogram(self) -> dict[str, int]:
        from vst.convert.report import op_histogram
        return op_histogram(n.op for n in self.nodes)

    def prune(self) -> None:
        """Drop nodes and constants the output does not depend on (left behind by import and rewrites)."""
        needed = {self.output}
        kept = []
        for n in reversed(self.nodes):
            if n.output in needed:
                kept.append(n)
                needed.update(n.inputs)
        self.nodes = kept[::-1]
        self.consts = {k: v for k, v in self.consts.items() if k in needed}
        unused = [k for k in self.extra if k not in needed]
        if unused:
            raise VstError(f"kept input(s) {', '.join(unused)} do not reach the output; bind them instead")

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def producer(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.output == name), None)

    def fresh(self, base: str) -> str:
        taken = {n.output for n in self.nodes} | set(self.consts) | set(self.shapes) | {self.input} | set(self.extra)
        i = 0
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def infer_shapes(self) -> None:
        """Static shapes of every tensor, by running the reference executor on the meta device (no arithmetic)."""
        import torch
        self.shapes = {}
        run_graph(self, torch.empty(self.input_shape, device="meta"), record=self.shapes)


def _t(arr: np.ndarray, device):
    import torch
    return torch.from_numpy(np.array(arr, dtype=np.float32)).to(device)


@dataclass
class Reference:
    """What an op's reference execution sees (vst.convert.ops)."""
    torch: Any
    F: Any


def run_graph(graph: Graph, x, record: dict | None = None, keep: bool = False, feeds: dict | None = None,
              consts: dict | None = None, post=None):
    """Reference executor (PyTorch, NCHW, float32). `record` gets shapes; with keep=True it gets the tensors.
    `feeds` gives kept inputs (graph.extra) by name; those not given take their sample value. `consts`: the
    graph's constants as tensors the caller holds (a module's buffers, which torch.export keeps as weights);
    by default each is made from graph.consts on first use. `post(node, y)`, if given, returns what is kept of
    each node's output y (an exporter's hint on the same values, a memory format say)."""
    import torch
    import torch.nn.functional as F
    env = {graph.input: x, **(consts or {})}
    dev = x.device
    for k, v in graph.extra.items():
        f = (feeds or {}).get(k)
        env[k] = f if isinstance(f, torch.Tensor) else _t(v if f is None else f, dev)

    def val(name):
        if name in env:
            return env[name]
        if name in graph.consts:
            env[name] = _t(graph.consts[name], dev)
            return env[name]
        raise InternalError(f"tensor {name!r} used before it is produced")

    ctx = Reference(torch, F)
    for n in graph.nodes:
        ins = [val(i) for i in n.inputs]
        op = REGISTRY.get(n.op)
        if op is None:
            raise InternalError(f"reference executor has no op {n.op!r}")
        y = op.reference(ctx, n, ins)
        if post is not None:
            y = post(n, y)
        env[n.output] = y
        if record is not None:
            record[n.output] = y if keep else tuple(y.shape)
    if record is not None and not keep:
        record[graph.input] = tuple(x.shape)
        record.update({k: tuple(env[k].shape) for k in graph.extra})
    return env[graph.output]


def run_numpy(graph: Graph, batch_nchw: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return run_graph(graph, torch.from_numpy(np.ascontiguousarray(batch_nchw, dtype=np.float32))).numpy()

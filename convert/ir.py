"""A small graph IR for image-to-image networks, imported from ONNX, run by a PyTorch reference executor.

Why not rewrite the ONNX graph directly: the target emitters (TFLite in NHWC, Core ML in NCHW) need ops ONNX
lacks (rsqrt, a repeat along one axis), and every 4-D tensor here has one logical NCHW meaning that each emitter
maps to its own physical layout. Axes in this IR are always logical NCHW.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vst.common.errors import InternalError, VstError

UNARY = {"relu", "sigmoid", "tanh", "sqrt", "rsqrt", "reciprocal", "neg", "exp", "abs", "hard_swish", "round"}
BINARY = {"add", "sub", "mul", "div", "pow", "max", "min"}
# Ops the emitters know; anything else is refused at import with the op's name.
OPS = UNARY | BINARY | {"conv", "conv_transpose", "pad", "instance_norm", "resize_nearest", "repeat", "interleave", "slice",
                        "concat", "reduce_mean", "clip", "leaky_relu", "reshape", "prelu", "resize_bilinear",
                        "depth_to_space", "space_to_depth"}


def input_name(name: str) -> str:
    """The name a kept input has in a TFLite artifact (the converter takes [A-Za-z0-9_] signature names)."""
    import re
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


class UnsupportedOp(VstError):
    """The native emitters cannot take this graph (an op, or an op's form); another path may (convert/fallback)."""


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


def run_graph(graph: Graph, x, record: dict | None = None, keep: bool = False, feeds: dict | None = None):
    """Reference executor (PyTorch, NCHW, float32). `record` gets shapes; with keep=True it gets the tensors.
    `feeds` gives kept inputs (graph.extra) by name; those not given take their sample value."""
    import torch
    import torch.nn.functional as F
    env = {graph.input: x}
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

    for n in graph.nodes:
        a = n.attrs
        ins = [val(i) for i in n.inputs]
        op = n.op
        if op == "conv":
            y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a["stride"], 0, a.get("dilation", (1, 1)),
                         a.get("group", 1))
        elif op == "conv_transpose":
            y = F.conv_transpose2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a["stride"], a["pads"],
                                   a["output_padding"], a.get("group", 1))
        elif op == "pad":
            t, l, b, r = a["pads"]
            mode = {"reflect": "reflect", "edge": "replicate", "constant": "constant"}[a["mode"]]
            y = F.pad(ins[0], (l, r, t, b), mode=mode, **({"value": a.get("value", 0.0)} if mode == "constant" else {}))
        elif op == "instance_norm":
            k = a.get("parity_groups", 1)   # statistics shared by channels c, c + C, ... (stride2_conv_on_parities)
            t = ins[0]
            if k > 1:
                n_, c4, h, w = t.shape
                t = t.reshape(n_, k, c4 // k, h, w).transpose(1, 2).reshape(n_, c4 // k, k * h, w)
            y = F.instance_norm(t, weight=ins[1], bias=ins[2], eps=a["eps"])
            if k > 1:
                y = y.reshape(n_, c4 // k, k, h, w).transpose(1, 2).reshape(n_, c4, h, w)
        elif op == "resize_nearest":
            y = F.interpolate(ins[0], scale_factor=(float(a["scale"][0]), float(a["scale"][1])), mode="nearest")
        elif op == "repeat":
            y = torch.repeat_interleave(ins[0], a["times"], dim=a["axis"])
        elif op == "interleave":
            # out[..., k*i + j, ...] = ins[j][..., i, ...] along `axis`
            y = torch.stack(ins, dim=a["axis"] + 1).flatten(a["axis"], a["axis"] + 1)
        elif op == "slice":
            y = ins[0].narrow(a["axis"], a["start"], a["end"] - a["start"])
        elif op == "concat":
            y = torch.cat(ins, dim=a["axis"])
        elif op == "reshape":
            y = ins[0].reshape(a["shape"])
        elif op == "reduce_mean":
            y = ins[0].mean(dim=tuple(a["axes"]), keepdim=True)
        elif op == "clip":
            y = ins[0].clamp(a.get("min"), a.get("max"))
        elif op == "leaky_relu":
            y = F.leaky_relu(ins[0], a["alpha"])
        elif op == "prelu":
            y = torch.where(ins[0] >= 0, ins[0], ins[0] * ins[1])
        elif op == "resize_bilinear":
            y = F.interpolate(ins[0], size=tuple(a["size"]), mode="bilinear", align_corners=a["align_corners"])
        elif op == "depth_to_space":
            # DCR (ONNX default): channel (i * b + j) * C + c feeds out[c, h*b + i, w*b + j]
            n_, c_, h_, w_ = ins[0].shape
            b = a["block"]
            y = ins[0].reshape(n_, b, b, c_ // (b * b), h_, w_).permute(0, 3, 4, 1, 5, 2) \
                .reshape(n_, c_ // (b * b), h_ * b, w_ * b)
        elif op == "space_to_depth":
            # TF's order: input (h*b + i, w*b + j, c) lands in channel (i * b + j) * C + c
            n_, c_, h_, w_ = ins[0].shape
            b = a["block"]
            y = ins[0].reshape(n_, c_, h_ // b, b, w_ // b, b).permute(0, 3, 5, 1, 2, 4) \
                .reshape(n_, b * b * c_, h_ // b, w_ // b)
        elif op in UNARY:
            y = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "sqrt": torch.sqrt,
                 "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal, "neg": torch.neg, "exp": torch.exp,
                 "abs": torch.abs, "hard_swish": F.hardswish,
                 "round": torch.round}[op](ins[0])   # half to even, as ONNX Round
        elif op in BINARY:
            y = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
                 "max": torch.maximum, "min": torch.minimum}[op](ins[0], ins[1])
        else:
            raise InternalError(f"reference executor has no op {op!r}")
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

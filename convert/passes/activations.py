"""Activations written as the one op TFLite has for them."""
from __future__ import annotations

import numpy as np

from vst.convert.ir import Graph
from vst.convert.passes.base import TFLITE_ONLY, rewrite


def _const(g: Graph, name: str, value: float) -> bool:
    return name in g.consts and g.consts[name].size == 1 and bool(np.isclose(float(g.consts[name].reshape(())), value,
                                                                             rtol=1e-6, atol=0))


def _other(node, name: str) -> str | None:
    """The operand of binary `node` that is not `name` (None when `name` is not one of its two)."""
    if len(node.inputs) != 2 or name not in node.inputs:
        return None
    return node.inputs[1] if node.inputs[0] == name else node.inputs[0]


@rewrite(targets=TFLITE_ONLY, elsewhere="it stands in for an ERF kernel TFLite lacks; the other targets run erf")
def erf_gelu_as_gelu(g: Graph) -> int:
    """x * 0.5 * (1 + erf(x / sqrt(2))), in the orders exporters write it  ==>  gelu(x): TFLite has no ERF kernel
    (the erf op is a polynomial of six ops), and GELU is one op. Exact up to float rounding."""
    count = 0
    for erf in [n for n in g.nodes if n.op == "erf"]:
        src = g.producer(erf.inputs[0])
        if src is None or not ((src.op == "div" and _const(g, src.inputs[1], np.sqrt(2.0))) or
                               (src.op == "mul" and _const(g, _other(src, src.inputs[0]) or "", 1 / np.sqrt(2.0)))):
            continue
        x = src.inputs[0]
        users = g.consumers(erf.output)
        if len(users) != 1 or users[0].op != "add" or not _const(g, _other(users[0], erf.output) or "", 1.0):
            continue
        cur, need = users[0].output, {"x", "half"}
        while need:
            users = g.consumers(cur)
            if len(users) != 1 or users[0].op != "mul":
                break
            f = _other(users[0], cur)
            p = g.producer(f) if f is not None else None
            if f == x and "x" in need:
                need.discard("x")
            elif f is not None and _const(g, f, 0.5) and "half" in need:
                need.discard("half")
            elif p is not None and p.op == "mul" and need == {"x", "half"} and x in p.inputs and \
                    _const(g, _other(p, x) or "", 0.5):
                need.clear()         # (0.5 * x) * (1 + erf(...))
            else:
                break
            cur = users[0].output
            last = users[0]
        if need:
            continue
        last.op, last.inputs, last.attrs = "gelu", [x], {"approximate": "none"}
        count += 1
    return count

"""Passes on the XNNPACK graph ExecuTorch's XNNPACK backend writes into a .pte (its XNNGraph: XNNPACK's own nodes
and tensors, layout explicit), run as the backend serializes it. Below ExecuTorch's channels-last pass, where a
depth-to-space or space-to-depth is a transpose to NCHW, a reshape, a 6-D transpose, a reshape and a transpose back,
the whole chain is one data movement that one transpose between two free reshapes does; and a spatial mean can be
taken as XNNPACK runs it fastest. Every pass keeps the values: the layout chains are checked index by index before
they are replaced, the means are exact up to float rounding."""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import fields

import numpy as np

# XNNPACK's transpose takes at most this many dimensions (XNN_MAX_TENSOR_DIMS)
MAX_DIMS = 6
FP32 = 1    # XNNDatatype.xnn_datatype_fp32


class _Graph:
    """An XNNGraph with its values by id and each value's producer and consumers."""

    def __init__(self, g):
        self.g = g
        self.values = {self.tensor(v).id_out: v for v in g.xvalues}
        self.external = set(g.input_ids) | set(g.output_ids) | {
            i for i, v in self.values.items() if self.tensor(v).flags or self.tensor(v).constant_buffer_idx}
        self.index()

    @staticmethod
    def tensor(xvalue):
        u = xvalue.xvalue_union
        return u.tensor_value if hasattr(u, "tensor_value") else u

    def dims(self, vid: int) -> tuple[int, ...]:
        return tuple(self.tensor(self.values[vid]).dims)

    def datatype(self, vid: int) -> int:
        return int(self.tensor(self.values[vid]).datatype)

    @staticmethod
    def io(node) -> tuple[list[int], list[int]]:
        """A node's input and output value ids (its union's *_id fields)."""
        u = node.xnode_union
        ins, outs = [], []
        for f in fields(u):
            if f.name.endswith("_id") and isinstance(getattr(u, f.name), int):
                (outs if f.name.startswith("output") else ins).append(getattr(u, f.name))
        return ins, outs

    def index(self) -> None:
        self.producer, self.consumers = {}, {}
        for node in self.g.xnodes:
            ins, outs = self.io(node)
            for v in outs:
                self.producer[v] = node
            for v in ins:
                self.consumers.setdefault(v, []).append(node)

    def set_dims(self, vid: int, dims) -> None:
        t = self.tensor(self.values[vid])
        t.dims, t.num_dims = [int(d) for d in dims], len(dims)

    def redirect(self, old: int, new: int) -> None:
        """Every node that reads value `old` reads `new` instead."""
        for n in self.consumers.get(old, []):
            u = n.xnode_union
            for f in fields(u):
                if f.name.endswith("_id") and not f.name.startswith("output") and getattr(u, f.name) == old:
                    setattr(u, f.name, new)
        self.index()

    def new_value(self, like: int, dims) -> int:
        """A fresh internal value with `like`'s type (and quantization) and these dims."""
        v = copy.deepcopy(self.values[like])
        t = self.tensor(v)
        t.id_out = max(self.values) + 1
        t.external_id, t.flags, t.constant_buffer_idx = 0xFFFFFFFF, 0, 0
        self.g.xvalues.append(v)
        self.values[t.id_out] = v
        self.set_dims(t.id_out, dims)
        return t.id_out

    def drop_unused(self) -> None:
        used = {v for n in self.g.xnodes for part in self.io(n) for v in part}
        self.g.xvalues[:] = [v for v in self.g.xvalues
                             if self.tensor(v).id_out in used or self.tensor(v).id_out in self.external]
        self.values = {self.tensor(v).id_out: v for v in self.g.xvalues}


def _schema():
    from executorch.backends.xnnpack.serialization import xnnpack_graph_schema as s
    return s


# ---- requantizations that change nothing ----------------------------------------------------------------------

def _per_tensor(graph: _Graph, vid: int):
    u = graph.values[vid].xvalue_union
    q = getattr(u, "quant_params", None)
    return (float(q.scale), int(q.zero_point)) if type(q).__name__ == "PerTensorQuant" else None


def drop_requantize_pairs(graph: _Graph) -> int:
    """int8 -> float -> (transposes and reshapes) -> int8 with the same scale and zero point  ==>  the transposes and
    reshapes on the int8 values. ExecuTorch's XNNPACK quantizer leaves a depth-to-space's last reshape between a
    dequantize and a quantize: a full-size float copy (kunster-t2-01's int8 program: four, 0.65-1.83 ms each at
    320x240), where int8 moves four times fewer bytes. Exact: with equal parameters the round trip gives each int8
    value back. Returns the pairs dropped."""
    count = 0
    for c1 in list(graph.g.xnodes):
        if type(c1.xnode_union).__name__ != "XNNConvert" or c1 not in graph.g.xnodes:
            continue
        q_in, f = c1.xnode_union.input_id, c1.xnode_union.output_id
        params = _per_tensor(graph, q_in)
        if params is None or graph.datatype(f) != FP32 or f in graph.external:
            continue
        chain, cur = [], f
        while True:
            users = graph.consumers.get(cur, [])
            if len(users) != 1 or cur in graph.external:
                break
            if _layout_step(users[0]) is None:
                break
            chain.append(users[0])
            cur = graph.io(users[0])[1][0]
        users = graph.consumers.get(cur, [])
        if len(users) != 1 or cur in graph.external or type(users[0].xnode_union).__name__ != "XNNConvert":
            continue
        c2 = users[0]
        q_out = c2.xnode_union.output_id
        if _per_tensor(graph, q_out) != params or graph.datatype(q_out) != graph.datatype(q_in) or \
                (not chain and q_out in graph.external):
            continue
        # the float values between become int8 values with the same parameters
        ins = [q_in] + [graph.io(n)[1][0] for n in chain[:-1]]
        for n, vid in zip(chain, ins):
            n.xnode_union.input_id = vid
        for n in chain[:-1]:
            out = graph.io(n)[1][0]
            v = copy.deepcopy(graph.values[q_in])
            t = graph.tensor(v)
            t.id_out, t.dims, t.num_dims = out, graph.dims(out), len(graph.dims(out))
            graph.g.xvalues[graph.g.xvalues.index(graph.values[out])] = v
            graph.values[out] = v
        if chain:
            chain[-1].xnode_union.output_id = q_out
        else:
            graph.redirect(q_out, q_in)
        graph.g.xnodes.remove(c1)
        graph.g.xnodes.remove(c2)
        graph.index()
        count += 1
    return count


# ---- layout chains ----------------------------------------------------------------------------------------------

def _layout_step(node):
    u = node.xnode_union
    name = type(u).__name__
    if name == "XNNStaticTranspose":
        return ("t", tuple(int(p) for p in u.perm))
    if name == "XNNStaticReshape":
        return ("r", tuple(int(d) for d in u.new_shape))
    return None


def _apply(x: np.ndarray, steps) -> np.ndarray:
    for kind, arg in steps:
        x = np.transpose(x, arg) if kind == "t" else x.reshape(arg)
    return x


def simplest(in_shape, steps):
    """The steps (transposes and reshapes) from `in_shape` as at most a reshape, one transpose and a reshape, with
    the fewest, coarsest dimensions; None where a reshape splits a dimension in a way this does not follow."""
    sizes = {}
    in_atoms = []
    dims = []
    for s in in_shape:
        a = len(sizes)
        sizes[a] = int(s)
        in_atoms.append(a)
        dims.append([a])
    for kind, arg in steps:
        if kind == "t":
            dims = [dims[p] for p in arg]
            continue
        flat = [a for d in dims for a in d if sizes[a] != 1]
        new = []
        for target in arg:
            cur, prod = [], 1
            while prod < target:
                if not flat:
                    return None
                a = flat.pop(0)
                if target % (prod * sizes[a]) == 0:
                    cur.append(a)
                    prod *= sizes[a]
                    continue
                k = target // prod         # the atom is split: its major part ends this dimension
                if target % prod or sizes[a] % k:
                    return None
                a1, a2 = len(sizes), len(sizes) + 1
                sizes[a1], sizes[a2] = k, sizes[a] // k
                i = in_atoms.index(a)
                in_atoms[i:i + 1] = [a1, a2]
                cur.append(a1)
                prod *= k
                flat.insert(0, a2)
            if prod != target:
                return None
            new.append(cur)
        if flat:
            return None
        dims = new
    out_shape = tuple(int(np.prod([sizes[a] for a in d])) if d else 1 for d in dims)
    src = [a for a in in_atoms if sizes[a] != 1]
    dst = [a for d in dims for a in d if sizes[a] != 1]
    merged = True
    while merged:                 # atoms next to each other in both orders move as one
        merged = False
        for x, y in zip(dst, dst[1:]):
            i = src.index(x)
            if i + 1 < len(src) and src[i + 1] == y:
                sizes[x] *= sizes[y]
                src.remove(y)
                dst.remove(y)
                merged = True
                break
    perm = tuple(src.index(a) for a in dst)
    mid = tuple(sizes[a] for a in src) or (1,)
    out = []
    if perm != tuple(range(len(perm))):
        if len(mid) > MAX_DIMS:
            return None
        if mid != tuple(in_shape):
            out.append(("r", mid))
        out.append(("t", perm))
        if tuple(sizes[a] for a in dst) != out_shape:
            out.append(("r", out_shape))
    elif out_shape != tuple(in_shape):
        out.append(("r", out_shape))
    return out


def collapse_layout_chains(graph: _Graph) -> int:
    """Each chain of transposes and reshapes whose inner values nothing else reads  ==>  at most one transpose
    between two reshapes (XNNPACK's static reshape moves no data). Below ExecuTorch's channels-last pass a
    depth-to-space is three full-size transposes and a space-to-depth (or the NHWC input's permute with the first
    one) too; TFLite's file runs each as one DEPTH_TO_SPACE or SPACE_TO_DEPTH. Each replacement is checked index by
    index against the chain. Returns the transposes removed."""
    s = _schema()
    removed = 0
    nodes = graph.g.xnodes
    i = 0
    while i < len(nodes):
        if _layout_step(nodes[i]) is None:
            i += 1
            continue
        chain = [nodes[i]]
        while True:
            out = graph.io(chain[-1])[1][0]
            users = graph.consumers.get(out, [])
            if out in graph.external or len(users) != 1 or _layout_step(users[0]) is None:
                break
            chain.append(users[0])
        steps = [_layout_step(n) for n in chain]
        src, dst = graph.io(chain[0])[0][0], graph.io(chain[-1])[1][0]
        in_shape = graph.dims(src)
        new = simplest(in_shape, steps)
        before = sum(k == "t" for k, _ in steps)
        after = sum(k == "t" for k, _ in new) if new is not None else before
        producer = graph.producer.get(src)
        into_output = not new and dst in graph.external   # the node before writes the output itself
        if new is None or (after, len(new)) >= (before, len(steps)) or (into_output and (
                producer is None or src in graph.external or len(graph.consumers.get(src, [])) != 1)):
            i += 1
            continue
        x = np.arange(int(np.prod(in_shape))).reshape(in_shape)
        if not np.array_equal(_apply(x, steps), _apply(x, new).reshape(graph.dims(dst))):
            i += 1         # not the same movement: keep the chain (never met)
            continue
        at = nodes.index(chain[0])
        for n in chain:
            nodes.remove(n)
        removed += before - after
        if into_output:
            u = producer.xnode_union
            for f in fields(u):
                if f.name.startswith("output") and f.name.endswith("_id") and getattr(u, f.name) == src:
                    setattr(u, f.name, dst)
            graph.index()
            i = nodes.index(producer) + 1
            continue
        if not new:         # the chain moves nothing: its readers read its input
            graph.redirect(dst, src)
            i = at
            continue
        # the chain's inner values carry the new steps' intermediates (same type and quantization)
        inner = [graph.io(n)[1][0] for n in chain[:-1]]
        ids, shape = [], tuple(in_shape)
        for kind, arg in new[:-1]:
            shape = arg if kind == "r" else tuple(shape[p] for p in arg)
            vid = inner.pop(0) if inner else graph.new_value(dst, shape)
            graph.set_dims(vid, shape)
            ids.append(vid)
        ids.append(dst)
        made, cur = [], src
        for (kind, arg), out in zip(new, ids):
            u = (s.XNNStaticTranspose(num_dims=len(arg), perm=list(arg), input_id=cur, output_id=out, flags=0)
                 if kind == "t" else
                 s.XNNStaticReshape(num_dims=len(arg), new_shape=list(arg), input_id=cur, output_id=out, flags=0))
            made.append(s.XNode(xnode_union=u, debug_handle=chain[-1].debug_handle,
                                output_min_max=chain[-1].output_min_max))
            cur = out
        nodes[at:at] = made
        graph.index()
        i = at + len(made)
    return removed


# ---- spatial means ----------------------------------------------------------------------------------------------

def spatial_means_by_rows(graph: _Graph) -> int:
    """A float global average pooling of [1, H, W, C] where mean_by_rows(C, H, W) (TFLite's spatial_mean_by_rows,
    measured there)  ==>  the mean over H of [1, H, 1, W*C] (W*C values in each inner step, not C), then over W. A
    square feeding it alone is moved after the first reshape (XNNPACK then runs the square apart, which it fused
    with the mean before: kunster-t2-15 320x240 fp32, the means 0.49 -> 0.10 ms, the squares 0 -> 0.05 ms). Exact
    up to float rounding: each row has W values. Returns the means split."""
    from vst.convert.passes.norms import mean_by_rows
    s = _schema()
    count = 0
    for node in list(graph.g.xnodes):
        u = node.xnode_union
        if type(u).__name__ != "XNNGlobalAvgPooling2d":
            continue
        x, y = u.input_id, u.output_id
        shape = graph.dims(x)
        if len(shape) != 4 or shape[0] != 1 or graph.datatype(x) != FP32 or graph.datatype(y) != FP32 or \
                1 in shape[1:3] or graph.dims(y) != (1, 1, 1, shape[3]):
            continue
        _, h, w, c = shape
        if not mean_by_rows(c, h, w):
            continue
        at = graph.g.xnodes.index(node)
        sq = graph.producer.get(x)
        squared = sq is not None and type(sq.xnode_union).__name__ == "XNNSquare" and \
            len(graph.consumers.get(x, [])) == 1 and x not in graph.external
        source = sq.xnode_union.input_id if squared else x
        rows_in = graph.new_value(x, (1, h, 1, w * c))
        made = [s.XNode(xnode_union=s.XNNStaticReshape(num_dims=4, new_shape=[1, h, 1, w * c], input_id=source,
                                                      output_id=rows_in, flags=0), debug_handle=node.debug_handle)]
        if squared:     # square after the reshape, its value reshaped too
            graph.set_dims(x, (1, h, 1, w * c))
            sq.xnode_union.input_id = rows_in
            graph.g.xnodes.remove(sq)
            at -= 1
            made.append(sq)
            rows_in = x
        rows = graph.new_value(y, (1, 1, 1, w * c))
        cols = graph.new_value(y, (1, 1, w, c))
        made += [s.XNode(xnode_union=s.XNNGlobalAvgPooling2d(input_id=rows_in, output_id=rows, flags=u.flags),
                         debug_handle=node.debug_handle),
                 s.XNode(xnode_union=s.XNNStaticReshape(num_dims=4, new_shape=[1, 1, w, c], input_id=rows,
                                                        output_id=cols, flags=0), debug_handle=node.debug_handle)]
        u.input_id = cols
        graph.g.xnodes[at:at] = made
        graph.index()
        count += 1
    return count


# ---- running them ---------------------------------------------------------------------------------------------------

PASSES = {"drop_requantize_pairs": drop_requantize_pairs, "collapse_layout_chains": collapse_layout_chains, "spatial_means_by_rows": spatial_means_by_rows}


def run(g, stats: dict, names=tuple(PASSES)) -> None:
    """The passes `names` (in PASSES order) on the XNNGraph `g` in place; `stats` adds up what each changed."""
    graph = _Graph(g)
    for name, fn in PASSES.items():
        if name in names:
            stats[name] = stats.get(name, 0) + fn(graph)
    graph.drop_unused()


@contextmanager
def applied(names=tuple(PASSES)):
    """The passes `names` run on every XNNPACK graph ExecuTorch's XNNPACK backend serializes in this block (its
    preprocess hands the finished XNNGraph to serialize_xnnpack_binary); yields the counts."""
    import executorch.backends.xnnpack.xnnpack_preprocess as pre
    unknown = set(names) - set(PASSES)
    if unknown:
        raise ValueError(f"no XNNPACK graph pass {sorted(unknown)}")
    original, stats = pre.serialize_xnnpack_binary, {}

    def serialize(graph, *args, **kwargs):
        run(graph, stats, names)
        return original(graph, *args, **kwargs)

    pre.serialize_xnnpack_binary = serialize
    try:
        yield stats
    finally:
        pre.serialize_xnnpack_binary = original

"""Resizes and pixel moves: resize_nearest (pixel repeats), resize_nearest_to (any size), gather (any other pixel
map), repeat, interleave, resize_bilinear, cubic resizes by integer factors (as convolutions and interleaves),
depth_to_space, space_to_depth."""
from __future__ import annotations

import numpy as np

from vst.convert.ops.base import Op, UnsupportedOp, imports, register
from vst.convert.ops.shape import concat_tree


@register("resize_nearest")
class ResizeNearest(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        return ctx.F.interpolate(ins[0], scale_factor=(float(a["scale"][0]), float(a["scale"][1])), mode="nearest")

    def tensorflow(self, ctx, node, x, nm):
        tf = ctx.tf
        sh, sw = node.attrs["scale"]
        return ctx.nhwc_op(x, lambda t: tf.compat.v1.image.resize_nearest_neighbor(
            t, [int(t.shape[1]) * sh, int(t.shape[2]) * sw], align_corners=False,
            half_pixel_centers=False, name=nm))

    def mil(self, ctx, node, x, nm):
        a = node.attrs
        return ctx.mb.upsample_nearest_neighbor(x=x, scale_factor_height=a["scale"][0],
                                                scale_factor_width=a["scale"][1], name=nm)


@register("resize_bilinear")
class ResizeBilinear(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        return ctx.F.interpolate(ins[0], size=tuple(a["size"]), mode="bilinear", align_corners=a["align_corners"])

    def tensorflow(self, ctx, node, x, nm):
        tf, a = ctx.tf, node.attrs
        half = not a["align_corners"]
        return ctx.nhwc_op(x, lambda t: tf.compat.v1.image.resize_bilinear(
            t, list(a["size"]), align_corners=a["align_corners"], half_pixel_centers=half, name=nm))

    def mil(self, ctx, node, x, nm):
        a = node.attrs
        # upsample_bilinear is what coremltools' PyTorch frontend emits for F.interpolate(bilinear):
        # align_corners=False is the half-pixel mapping
        sh, sw = (o / int(i) for o, i in zip(a["size"], x.shape[2:]))
        if not a["align_corners"] and (sh != int(sh) or sw != int(sw)):
            raise UnsupportedOp(f"bilinear resize {node.name!r} to a non-integer multiple with half-pixel "
                                "coordinates cannot be converted to coreml")
        return ctx.mb.upsample_bilinear(x=x, scale_factor_height=sh, scale_factor_width=sw,
                                        align_corners=a["align_corners"], name=nm)


@imports("Resize")
def import_resize(ctx, node):
    """Resize -> resize_bilinear (half-pixel or align-corners), a nearest resize's pixel map (add_pixel_map), or
    a cubic one at an integer scale (add_cubic)."""
    a, ins, out, nm = ctx.a, ctx.ins, ctx.out, ctx.nm
    ctx.plain(node.input[0])
    src = ctx.model_shape(node.input[0])
    scales = ctx.const(ins[2], "the scales") if len(ins) > 2 and ins[2] else None
    if scales is None or scales.size == 0:
        sizes = ctx.const(ins[3], "the sizes")
        scales = np.asarray(sizes, dtype=np.float64) / np.asarray(src, dtype=np.float64)
    sc = [float(s) for s in np.asarray(scales).ravel()]
    if len(sc) != 4 or sc[0] != 1 or sc[1] != 1:
        ctx.unsupported(f"scales {sc}: only height/width scales")
    mode, ctm = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
    if mode == "linear":
        size = (int(np.floor(src[2] * sc[2] + 1e-6)), int(np.floor(src[3] * sc[3] + 1e-6)))
        if a.get("antialias", 0) or ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners") or min(size) < 2:
            ctx.unsupported(f"linear mode with {ctm} coordinates")
        ctx.add("resize_bilinear", [ins[0]], out, {"size": size, "align_corners": ctm == "align_corners"}, nm)
        return
    if mode == "cubic":
        add_cubic(ctx, ins[0], out, sc[2:], ctm, float(a.get("cubic_coeff_a", -0.75)), nm)
        return
    if mode != "nearest":
        ctx.unsupported(f"mode {mode}")
    nmode = a.get("nearest_mode", "round_prefer_floor")
    size = tuple(int(np.floor(n * s + 1e-6)) for n, s in zip(src[2:], sc[2:]))
    maps = [_onnx_nearest_index(ctm, nmode, s, n, o) for s, n, o in zip(sc[2:], src[2:], size)]
    if any(m is None for m in maps):
        ctx.unsupported(f"nearest mode {ctm}/{nmode}")
    add_pixel_map(ctx, ins[0], out, maps, tuple(src[2:]), nm)


def add_cubic(ctx, x: str, out: str, scales, ctm: str, coeff: float, nm: str) -> None:
    """A cubic resize by an integer factor s with half-pixel coordinates and the border repeated (torch's
    bicubic, A = -0.75, align_corners=False): output row q*s + r reads input rows q-2..q+2 with weights fixed by
    the phase r, so along each axis it is the input padded by 2 repeated rows, s depthwise convolutions of fixed
    5-tap filters (one per phase) and an interleave of their outputs: the same sums as torch's, in another
    order. Other factors and align-corners coordinates have no fixed filters: refused."""
    node = ctx.node
    if ctx.a.get("antialias", 0) or ctx.a.get("exclude_outside", 0) or \
            ctm not in ("half_pixel", "pytorch_half_pixel") or any(s != int(s) or s < 1 for s in scales):
        ctx.unsupported(f"cubic mode at scales {list(scales)} with {ctm} coordinates: only integer upscales with "
                        "half-pixel coordinates")
    c = ctx.shape_of(node.input[0])[1]
    cur = x
    for axis, s in ((2, int(scales[0])), (3, int(scales[1]))):
        if s == 1:
            continue
        dst = out if axis == 3 or int(scales[1]) == 1 else f"{out}__rows"
        pad = f"{dst}__pad"
        ctx.add("pad", [cur], pad, {"mode": "edge", "value": 0.0, "pads": (2, 0, 2, 0) if axis == 2 else (0, 2, 0, 2)},
                f"{nm}/pad{axis}")
        phases = []
        for r, taps in enumerate(cubic_phase_filters(s, coeff)):
            w = f"{dst}__phase{r}"
            shape = (c, 1, 5, 1) if axis == 2 else (c, 1, 1, 5)
            ctx.consts[w] = np.broadcast_to(taps.reshape(1, 1, *shape[2:]), shape).astype(np.float32).copy()
            ctx.add("conv", [pad, w], f"{w}__out", {"stride": (1, 1), "dilation": (1, 1), "group": c},
                    f"{nm}/axis{axis}/phase{r}")
            phases.append(f"{w}__out")
        ctx.add("interleave", phases, dst, {"axis": axis}, f"{nm}/axis{axis}")
        cur = dst
    if cur == x:
        ctx.alias[out] = x


def cubic_phase_filters(s: int, a: float) -> list[np.ndarray]:
    """For each phase r of an integer upscale by s with half-pixel coordinates: the weights of input rows
    q-2..q+2 in output row q*s + r (Keys' cubic convolution with coefficient a; one of the five is 0)."""
    def keys(d):
        d = abs(d)
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1 if d <= 1 else a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    out = []
    for r in range(s):
        src = (r + 0.5) / s - 0.5
        x0 = int(np.floor(src))
        t = src - x0
        taps = np.zeros(5)
        for m, d in enumerate((1 + t, t, 1 - t, 2 - t)):      # input rows q + x0 - 1 + m
            taps[x0 + 1 + m] = keys(d)
        out.append(taps)
    return out


def _onnx_nearest_index(mode: str, nearest_mode: str, scale: float, n_in: int, n_out: int) -> np.ndarray | None:
    """The input pixel ONNX Resize(nearest) reads for each of `n_out` outputs (None: a mode not handled)."""
    out = np.arange(n_out, dtype=np.float64)
    if mode == "asymmetric":
        src = out / scale
    elif mode in ("half_pixel", "pytorch_half_pixel"):
        src = (out + 0.5) / scale - 0.5 if not (mode == "pytorch_half_pixel" and n_out == 1) else out * 0
    elif mode == "tf_half_pixel_for_nn":
        src = (out + 0.5) / scale
    elif mode == "align_corners":
        src = out * (n_in - 1) / (n_out - 1) if n_out > 1 else out * 0
    else:
        return None
    rnd = {"floor": np.floor, "ceil": np.ceil,
           "round_prefer_floor": lambda v: np.ceil(v - 0.5), "round_prefer_ceil": lambda v: np.floor(v + 0.5)}
    if nearest_mode not in rnd:
        return None
    return np.clip(rnd[nearest_mode](src), 0, n_in - 1).astype(int)


def _is_repeat(idx: np.ndarray, n_in: int) -> bool:
    """True when pixel map `idx` of `n_in` pixels repeats each an integer number of times (output i <- i // s)."""
    n_out = len(idx)
    return n_out % n_in == 0 and bool(np.array_equal(idx, np.arange(n_out) // (n_out // n_in)))


def _nearest_is_repeat(mode: str, nearest_mode: str, scale: int, n_in: int) -> bool:
    """True when Resize(nearest) of `n_in` pixels at an integer scale maps output i to input i // scale."""
    idx = _onnx_nearest_index(mode, nearest_mode, scale, n_in, n_in * scale)
    return idx is not None and _is_repeat(idx, n_in)


def tflite_nearest_index(n_in: int, n_out: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """The input pixel TFLite's RESIZE_NEAREST_NEIGHBOR reads for each output (its reference kernel, in float32:
    round half away from zero with align_corners, else floor; half_pixel adds 0.5 before scaling)."""
    scale = np.float32((n_in - 1) / (n_out - 1)) if align_corners and n_out > 1 else np.float32(n_in / n_out)
    v = (np.arange(n_out, dtype=np.float32) + np.float32(0.5 if half_pixel else 0.0)) * scale
    idx = np.sign(v) * np.floor(np.abs(v) + 0.5) if align_corners else np.floor(v)
    return np.clip(idx, 0, n_in - 1).astype(int)


@register("resize_nearest_to")
class ResizeNearestTo(Op):
    """Nearest resize to any size, in one of TFLite's modes (the import checked it reads the pixels ONNX does)."""
    def reference(self, ctx, node, ins):
        a, x = node.attrs, ins[0]
        for axis, n_out in ((2, a["size"][0]), (3, a["size"][1])):
            idx = tflite_nearest_index(int(x.shape[axis]), n_out, a["align_corners"], a["half_pixel"])
            x = x.index_select(axis, ctx.torch.from_numpy(idx).to(x.device))
        return x

    def tensorflow(self, ctx, node, x, nm):
        a, tf = node.attrs, ctx.tf
        return ctx.nhwc_op(x, lambda t: tf.compat.v1.image.resize_nearest_neighbor(
            t, list(a["size"]), align_corners=a["align_corners"], half_pixel_centers=a["half_pixel"], name=nm))


@imports("GatherND")
def import_gather_nd(ctx, node):
    """torch's export of a nearest resize it computes by index (`nearest-exact`, and `nearest` at non-integer
    scales): Transpose to [H, W, N, C], GatherND with constant [Ho, Wo, 2] indices, Transpose back. Separable
    indices are a pixel map per axis: integer repeats (resize_nearest), a map one of TFLite's nearest modes
    computes (resize_nearest_to), else a gather per axis."""
    q = ctx.src_perm
    ind = np.asarray(ctx.const(ctx.ins[1], "the indices")).astype(np.int64)
    if node.input[0] in ctx.consts or int(ctx.a.get("batch_dims", 0)) or ind.ndim != 3 or ind.shape[2] != 2 \
            or q[:2] != (2, 3) or len(ctx.shape_of(node.input[0])) != 4:
        ctx.unsupported("only [Ho, Wo, 2] indices into the height and width of an image")
    n_h, n_w = ctx.shape_of(node.input[0])[:2]
    rows, cols = ind[:, 0, 0] % n_h, ind[0, :, 1] % n_w
    if not (np.array_equal(ind[:, :, 0] % n_h, np.broadcast_to(rows[:, None], ind.shape[:2]))
            and np.array_equal(ind[:, :, 1] % n_w, np.broadcast_to(cols[None, :], ind.shape[:2]))):
        ctx.unsupported("indices that are not one pixel map per axis")
    add_pixel_map(ctx, ctx.ins[0], ctx.out, (rows, cols), (n_h, n_w), ctx.nm)
    ctx.perm[ctx.out] = q


def add_pixel_map(ctx, x: str, out: str, maps, src: tuple[int, int], nm: str) -> None:
    """Output pixel (i, j) = input pixel (maps[0][i], maps[1][j]), in the IR op that computes it best."""
    size = tuple(len(m) for m in maps)
    if all(_is_repeat(m, n) for m, n in zip(maps, src)):
        ctx.add("resize_nearest", [x], out, {"scale": (size[0] // src[0], size[1] // src[1])}, nm)
        return
    for corners, half in ((False, False), (True, False), (False, True)):
        if all(np.array_equal(m, tflite_nearest_index(n, o, corners, half)) for m, n, o in zip(maps, src, size)):
            ctx.add("resize_nearest_to", [x], out, {"size": size, "align_corners": corners, "half_pixel": half}, nm)
            return
    mid = f"{out}__rows"
    ctx.add("gather", [x], mid, {"axis": 2, "indices": tuple(int(v) for v in maps[0])}, nm + "/rows")
    ctx.add("gather", [mid], out, {"axis": 3, "indices": tuple(int(v) for v in maps[1])}, nm)


@register("gather")
class Gather(Op):
    """Constant indices along one axis (a pixel map no resize computes): TFLite GATHER, which XNNPACK leaves to
    the reference kernels."""
    def reference(self, ctx, node, ins):
        idx = ctx.torch.tensor(node.attrs["indices"], dtype=ctx.torch.int64, device=ins[0].device)
        return ins[0].index_select(node.attrs["axis"], idx)

    def tensorflow(self, ctx, node, x, nm):
        idx = np.asarray(node.attrs["indices"], np.int32)
        return ctx.tf.gather(x, idx, axis=ctx.ax(node.attrs["axis"]), name=nm)

    def mil(self, ctx, node, x, nm):
        return ctx.mb.gather(x=x, indices=np.asarray(node.attrs["indices"], np.int32), axis=node.attrs["axis"],
                             name=nm)


@register("repeat")
class Repeat(Op):
    def reference(self, ctx, node, ins):
        return ctx.torch.repeat_interleave(ins[0], node.attrs["times"], dim=node.attrs["axis"])

    def tensorflow(self, ctx, node, x, nm):
        a = node.attrs
        return _interleave(ctx.tf, [x] * a["times"], ctx.ax(a["axis"]), nm)

    def mil(self, ctx, node, x, nm):
        a = node.attrs
        sf = (a["times"], 1) if a["axis"] == 2 else (1, a["times"])
        return ctx.mb.upsample_nearest_neighbor(x=x, scale_factor_height=sf[0], scale_factor_width=sf[1], name=nm)


@register("interleave")
class Interleave(Op):
    def reference(self, ctx, node, ins):
        a = node.attrs
        # out[..., k*i + j, ...] = ins[j][..., i, ...] along `axis`
        return ctx.torch.stack(ins, dim=a["axis"] + 1).flatten(a["axis"], a["axis"] + 1)

    def tensorflow(self, ctx, node, x, nm):
        return _interleave(ctx.tf, [ctx.val(i) for i in node.inputs], ctx.ax(node.attrs["axis"]), nm)

    def mil(self, ctx, node, x, nm):
        axis, mb = node.attrs["axis"], ctx.mb
        shape = [int(v) for v in x.shape]
        shape[axis] *= len(node.inputs)
        y = mb.stack(values=[ctx.val(i) for i in node.inputs], axis=axis + 1, name=nm + "_stack")
        return mb.reshape(x=y, shape=shape, name=nm)


def _interleave(tf, xs: list, axis: int, nm: str):
    """Alternate the inputs' entries along `axis` (a repeat when they are all the same tensor): concat on the
    next axis, then merge the two axes with a reshape. CONCATENATION and RESHAPE are XNNPACK ops (a concat of
    more than MAX_CONCAT_INPUTS in steps: a nearest x8 repeats 8 times)."""
    shape = [int(s) for s in xs[0].shape]
    if axis + 1 < len(shape):
        y = concat_tree(tf, xs, axis + 1, None)
    else:
        y = tf.stack(xs, axis + 1)
    shape[axis] *= len(xs)
    return tf.reshape(y, shape, name=nm)


@register("depth_to_space")
class DepthToSpace(Op):
    def reference(self, ctx, node, ins):
        # DCR (ONNX default): channel (i * b + j) * C + c feeds out[c, h*b + i, w*b + j]
        n_, c_, h_, w_ = ins[0].shape
        b = node.attrs["block"]
        return ins[0].reshape(n_, b, b, c_ // (b * b), h_, w_).permute(0, 3, 4, 1, 5, 2) \
            .reshape(n_, c_ // (b * b), h_ * b, w_ * b)

    def tensorflow(self, ctx, node, x, nm):
        tf = ctx.tf
        return ctx.nhwc_op(x, lambda t: tf.nn.depth_to_space(t, node.attrs["block"], name=nm))

    def mil(self, ctx, node, x, nm):
        return ctx.mb.depth_to_space(x=x, block_size=node.attrs["block"], name=nm)


@imports("DepthToSpace")
def import_depth_to_space(ctx, node):
    ctx.plain(node.input[0])
    x = ctx.ins[0]
    if ctx.a.get("mode", "DCR") == "CRD":
        x = _crd_as_dcr(ctx, node, x)
    ctx.add("depth_to_space", [x], ctx.out, {"block": int(ctx.a["blocksize"])}, ctx.nm)


def _crd_as_dcr(ctx, node, x: str) -> str:
    """DepthToSpace CRD (PyTorch's PixelShuffle) reads channel c*b*b + k where DCR (TF's DEPTH_TO_SPACE) reads
    k*C + c: reorder the output channels of the convolution that feeds it instead (exact, a permutation)."""
    consts = ctx.consts
    b = int(ctx.a["blocksize"])
    conv = next((n for n in ctx.nodes if n.output == x), None)
    if conv is None or conv.op != "conv" or ctx.n_uses.get(x, 0) != 1 or conv.attrs.get("group", 1) != 1:
        ctx.unsupported("CRD mode after something other than a convolution")
    w = consts[conv.inputs[1]]
    c = w.shape[0] // (b * b)
    order = np.arange(c * b * b).reshape(c, b * b).T.ravel()   # DCR position k*C + c <- CRD channel c*b*b + k
    new_w = f"{conv.inputs[1]}__dcr"
    consts[new_w] = np.asarray(w)[order]
    conv.inputs = [conv.inputs[0], new_w] + conv.inputs[2:]
    if len(conv.inputs) > 2:
        new_b = f"{conv.inputs[2]}__dcr"
        consts[new_b] = np.asarray(consts[conv.inputs[2]])[order]
        conv.inputs[2] = new_b
    return x


@register("space_to_depth")
class SpaceToDepth(Op):
    def reference(self, ctx, node, ins):
        # TF's order: input (h*b + i, w*b + j, c) lands in channel (i * b + j) * C + c
        n_, c_, h_, w_ = ins[0].shape
        b = node.attrs["block"]
        return ins[0].reshape(n_, c_, h_ // b, b, w_ // b, b).permute(0, 3, 5, 1, 2, 4) \
            .reshape(n_, b * b * c_, h_ // b, w_ // b)

    def tensorflow(self, ctx, node, x, nm):
        tf = ctx.tf
        return ctx.nhwc_op(x, lambda t: tf.nn.space_to_depth(t, node.attrs["block"], name=nm))

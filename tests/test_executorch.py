"""The ExecuTorch target (.pte with the XNNPACK delegate): vst's proven rewrites (of the IR, or of the torch module
where the IR import refuses it), the whole network in one delegated subgraph, fidelity against the source, int8
through ExecuTorch's quantizer, and the runtime session vst-bench and vst-stylize run it through."""
import copy

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from vst.common.errors import VstError
from vst.common.records import precision
from vst.convert import api, front, onnx_import, pte, torch_rewrites, verify
from vst.convert.cli import main as convert_main
from vst.convert.ir import UnsupportedOp
from vst.convert.passes import EXACT_PSNR_DB
from test_hostile_inputs import one_line

SIZE = (96, 64)


@pytest.fixture(scope="module")
def fp32(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("executorch") / "small.pte"
    return out, api.convert(str(ckpt), to="executorch", quant="fp32", size=SIZE, out=out)


@pytest.fixture(scope="module")
def shipped():
    from vst.models import load_model
    from vst.models.names import parse_model_name
    return load_model(parse_model_name("kunster.a025-s05-stage2").path).eval()


def test_each_torch_rewrite_alone_is_exact_on_the_shipped_model(shipped):
    images = verify.eval_images(*SIZE)
    ref = torch_rewrites._run(shipped, images)
    for name, edit in torch_rewrites.ORDER.items():
        m = copy.deepcopy(shipped)
        assert edit(m, torch.from_numpy(images[:1])) > 0, name
        assert verify.compare(ref, torch_rewrites._run(m, images))["psnr_db"] >= EXACT_PSNR_DB, name
    done = torch_rewrites.rewrite(shipped, images)
    assert done.applied == tuple(torch_rewrites.ORDER)
    assert not any(isinstance(m, (torch.nn.ReflectionPad2d, torch.nn.InstanceNorm2d, torch.nn.Upsample))
                   for m in done.module.modules())
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in shipped.modules())    # the source is left as it is


def test_a_rewrite_that_is_not_exact_is_not_kept(shipped, monkeypatch):
    # eps 1000x too large moves every normalized value: the proof must refuse it and keep the module as it was
    real = torch_rewrites.InstanceNormMoments.__init__

    def loose(self, norm):
        real(self, norm)
        self.eps = 1e3 * max(self.eps, 1e-5) + 1.0
    monkeypatch.setattr(torch_rewrites.InstanceNormMoments, "__init__", loose)
    done = torch_rewrites.rewrite(shipped, verify.eval_images(*SIZE))
    res = {r.name: r for r in done.results}
    assert not res["instance_norm_moments"].applied and "not exact" in res["instance_norm_moments"].detail
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in done.module.modules())


def test_fp32_program_is_one_delegated_subgraph_and_verified(fp32):
    out, rep = fp32
    d = rep["executorch"]["delegation"]
    assert (d["subgraphs"], d["compute_nodes_outside"]) == (1, 0), d
    assert d["delegated_nodes"] > 50
    assert rep["delegates"]["xnnpack"]["verdict"] == "full"
    applied = {p["name"] for p in rep["passes"] if p["applied"]}
    # the rewrites XNNPACK needs, proven on the IR the program is exported from
    assert {"reflect_pad_as_slices", "nearest_conv_subpixel", "instance_norm_raw_moments"} <= applied, applied
    assert "instance_norm_moments" not in applied      # XNNPACK in ExecuTorch has no squared difference
    assert "spatial_mean_by_rows" not in applied       # TFLite's MEAN workaround: ExecuTorch's mean is delegated
    fid = rep["fidelity"]
    assert fid["passed"] is True and fid["psnr_db"] >= verify.THRESHOLDS_DB["fp32"], fid
    assert rep["temporal"]["measured"] and rep["temporal"]["ratio"] < 1.01, rep["temporal"]
    assert rep["tool_versions"]["executorch"] not in ("", "not installed")
    assert out.stat().st_size == rep["artifact"]["bytes"] > 0


def test_session_runs_the_program_and_reads_its_delegation(fp32, ckpt):
    from vst.models import load_model
    from vst.runtimes.executorch import ExecuTorchSession, input_spec
    from vst.runtimes.session import open_session
    from vst.runtimes.stylizer import ArtifactRunner, load_runner
    out, _ = fp32
    s = open_session(out)
    assert isinstance(s, ExecuTorchSession) and s.runtime == "executorch"
    assert (s.input.layout, s.input.size, s.input.dtype) == ("NHWC", SIZE, "float32") and input_spec(out) == s.input
    assert s.delegation.not_delegated == [] and "1 delegated subgraph," in s.delegation.summary()
    x = verify.eval_images(*SIZE)[:1]
    with torch.no_grad():
        ref = load_model(ckpt).eval()(torch.from_numpy(x)).numpy()
    got = verify.from_layout(s.run(verify.to_layout(x, "nhwc")), "nhwc")
    assert verify.compare(ref, got)["psnr_db"] >= verify.THRESHOLDS_DB["fp32"]
    # vst-stylize's path (-m k.pte): uint8 frames in, the artifact's own layout, NCHW float out
    runner = load_runner(str(out))
    assert isinstance(runner, ArtifactRunner) and runner.size == SIZE
    y = runner(torch.from_numpy(x))
    assert y.shape == (1, 3, SIZE[1], SIZE[0])
    # a program that loads but whose kernels refuse the input: one line naming the file, no traceback
    with pytest.raises(VstError, match=f"{out.name}: ExecuTorch loaded the program but could not run it"):
        s.run(np.zeros((1, SIZE[1] + 8, SIZE[0], 3), np.float32))


def test_host_sweep_times_the_program(fp32, tmp_path):
    from vst.bench import Protocol
    from vst.bench.sweep import run_sweep
    from vst.video.codec import make_clip
    clip = make_clip(tmp_path / "clip.mp4", (160, 96), seconds=0.2, fps=25)
    df = run_sweep("host", [str(fp32[0])], resolutions=[SIZE], out_dir=tmp_path / "bench", video=clip,
                   protocol=Protocol(warmup_frames=1, warmup_seconds=0.0, repeats=2, cooldown_s=0.0, threads=2),
                   progress=False, log=lambda *a: None)
    row = df.iloc[0]
    assert row["resolution"] == f"{SIZE[0]}x{SIZE[1]}" and row["fps_inference"] > 0
    assert row["delegate_used"].startswith("xnnpack (1 delegated subgraph")


def test_profile_reads_the_delegated_ops_from_etdump(fp32):
    from vst.runtimes.executorch import profile
    from vst.runtimes.profile import format_table, summary
    prof = profile(fp32[0], runs=2)
    assert prof["ops"] and prof["sum_ms"] > 0 and prof["whole_ms"] > 0
    # every convolution of the program ran inside the delegate, named as XNNPACK names its operators
    convs = sum(n for op, n in fp32[1]["op_histogram"].items() if "convolution" in op)
    assert sum(r["op"].startswith("Convolution") for r in prof["ops"]) == convs > 0
    assert "Convolution" in format_table(summary(prof))


def test_default_lowering_leaves_vst_blocks_outside_and_module_rewrites_take_them_in():
    # why the rewrites exist, on one block of each kind vst's networks are made of (small: lowering is per node)
    from vst.models.layers import NearestUpConv, ResidualBlock
    torch.manual_seed(0)
    block = torch.nn.Sequential(NearestUpConv(3, 4), ResidualBlock(4)).eval()
    images = verify.eval_images(32, 16)
    x = torch.from_numpy(images[:1])
    d = pte.default_program(block, x).delegation
    assert d["subgraphs"] > 1 and d["compute_nodes_outside"] > 0, d
    assert {"aten__native_batch_norm_legit_no_stats", "aten_upsample_nearest2d_vec"} <= set(d["ops_outside"])
    done = torch_rewrites.rewrite(block, images)
    d = pte.lower(pte.export(done.module, x)).delegation
    assert (d["subgraphs"], d["compute_nodes_outside"]) == (1, 0), d


def test_module_path_dynamic_int8_is_one_subgraph_with_int8_convolutions(ckpt, tmp_path, monkeypatch):
    # a PyTorch source the IR import refuses is lowered from its module, with the module-level rewrites
    def refuse(*args, **kwargs):
        raise UnsupportedOp("an op the IR lacks (test)")
    monkeypatch.setattr(onnx_import, "to_ir", refuse)
    monkeypatch.setattr(front, "CACHE", {})        # not the front the fp32 conversion kept
    rep = api.convert(str(ckpt), to="executorch", quant="int8", dynamic=True, size=SIZE, out=tmp_path / "d.pte",
                      checks="proofs")
    assert "module-level rewrites (an op the IR lacks (test))" in rep["executorch"]["lowered_from"]
    assert all(r["applied"] for r in rep["executorch"]["torch_rewrites"])
    d = rep["executorch"]["delegation"]
    assert (d["subgraphs"], d["compute_nodes_outside"]) == (1, 0), d
    q = rep["quantization"]["dynamic"]
    # every convolution but the two ones-kernel upsamplers (depthwise: XNNPACK has no dynamic int8 for them)
    assert q["int8_weight_ops"] == q["conv_ops"] - 2 > 0
    assert precision(rep) == "int8-dynamic"
    assert rep["fidelity"]["psnr_db"] >= verify.THRESHOLDS_DB["int8"]


def _conv_onnx(path):
    w = numpy_helper.from_array(np.random.default_rng(0).random((3, 3, 3, 3), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIZE[1], SIZE[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, SIZE[1], SIZE[0]])],
                              [w])
    import onnx
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_an_onnx_source_converts_through_the_ir(tmp_path):
    rep = api.convert(str(_conv_onnx(tmp_path / "m.onnx")), to="executorch", size=SIZE, out=tmp_path / "m.pte",
                      io_layout="nchw", checks="proofs")
    d = rep["executorch"]["delegation"]
    assert (d["subgraphs"], d["compute_nodes_outside"]) == (1, 0) and rep["fidelity"]["passed"]


def test_bad_requests_get_one_line(capsys, tmp_path, ckpt):
    size = f"{SIZE[0]}x{SIZE[1]}"
    one_line(capsys, convert_main, [ckpt, "--to", "executorch", "--quant", "fp16", "--size", size, "-o",
                                    tmp_path / "h.pte"], "fp32 or int8")
    one_line(capsys, convert_main, [ckpt, "--to", "executorch", "--size", size, "-o", tmp_path / "x.tflite"],
             ".pte")
    assert not list(tmp_path.glob("*.pte"))
    (tmp_path / "bad.pte").write_bytes(b"not a program at all")
    from vst.runtimes.session import open_session
    from vst.common.errors import VstError
    with pytest.raises(VstError, match="not an ExecuTorch program"):
        open_session(tmp_path / "bad.pte")


def _upsampling_graph():
    """conv -> depth-to-space -> a consumer that needs NHWC (mean) and two that do not, twice over: the second
    depth-to-space is the graph's output, as the thin last convolution's parities are in vst's networks."""
    from vst.convert.ir import Graph, Node
    rng = np.random.default_rng(0)
    consts = {"w0": rng.standard_normal((12, 3, 3, 3)).astype(np.float32), "w1": rng.standard_normal(
        (12, 3, 1, 1)).astype(np.float32)}
    conv = {"stride": (1, 1), "dilation": (1, 1), "group": 1}
    nodes = [Node("conv", ["x", "w0"], "c0", conv), Node("depth_to_space", ["c0"], "d0", {"block": 2}),
             Node("reduce_mean", ["d0"], "m", {"axes": (2, 3)}), Node("mul", ["d0", "d0"], "sq"),
             Node("sub", ["sq", "m"], "e"), Node("mul", ["e", "d0"], "f"),
             Node("conv", ["f", "w1"], "c1", conv), Node("depth_to_space", ["c1"], "y", {"block": 2})]
    g = Graph("x", "y", (1, 3, 18, 34), nodes, consts)
    g.infer_shapes()
    return g


def test_depth_to_space_is_handed_to_xnnpack_channels_last_and_stays_exact():
    from vst.convert.ir import run_graph
    g = _upsampling_graph()
    module = pte.GraphModule(g)
    x = torch.from_numpy(verify.eval_images(34, 18)[:1])
    program = pte.export(module, x)
    hints = [n for n in program.graph.nodes if n.op == "call_function" and
             n.kwargs.get("memory_format") == torch.channels_last]
    # the one inside the graph gets the hint; the output's does not (the NHWC I/O permute follows it)
    assert len(hints) == 1 and tuple(hints[0].meta["val"].shape) == (1, 3, 32, 64)
    with torch.no_grad():     # the same values; PyTorch's own kernels for a channels-last tensor round differently
        assert verify.compare(run_graph(g, x).numpy(), module(x).numpy())["psnr_db"] >= EXACT_PSNR_DB
    lowered = pte.lower(pte.export(pte.NHWCIO(module), x.permute(0, 2, 3, 1).contiguous()))
    assert (lowered.delegation["subgraphs"], lowered.delegation["compute_nodes_outside"]) == (1, 0)
    from vst.runtimes.executorch import ExecuTorchSession
    got = ExecuTorchSession(lowered.data).run(x.permute(0, 2, 3, 1).numpy())
    assert verify.compare(run_graph(g, x).permute(0, 2, 3, 1).numpy(), got)["psnr_db"] >= EXACT_PSNR_DB


def test_session_holds_pytorch_to_one_thread_only_inside_the_call(fp32):
    # the binding's tensor copies would otherwise wake PyTorch's OpenMP threads, which spin and take XNNPACK's cores
    from vst.runtimes.executorch import ExecuTorchSession
    s = ExecuTorchSession(fp32[0])
    seen, real = [], s.method.execute
    s.method = type("Spy", (), {"execute": lambda self, args: seen.append(torch.get_num_threads()) or real(args)})()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        y = s.run(verify.to_layout(verify.eval_images(*SIZE)[:1], "nhwc"))
        assert seen == [1] and torch.get_num_threads() == 2 and y.shape == (1, SIZE[1], SIZE[0], 3)
    finally:
        torch.set_num_threads(before)


def _wide_subpixel_graph():
    """conv -> nearest x2 -> reflect pad -> 3x3 conv with a bias to more channels than SUBPIXEL_ONE_CONV_COUT:
    nearest_conv_subpixel writes the last as four parity convs that read one bias constant."""
    from vst.convert.ir import Graph, Node
    from vst.convert.passes.upsample import SUBPIXEL_ONE_CONV_COUT
    rng = np.random.default_rng(0)
    cout = SUBPIXEL_ONE_CONV_COUT + 4
    consts = {"w0": rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3,
              "w1": rng.standard_normal((cout, 8, 3, 3)).astype(np.float32) * 0.2,
              "b1": rng.standard_normal(cout).astype(np.float32) * 0.1}
    conv = {"stride": (1, 1), "dilation": (1, 1), "group": 1}
    nodes = [Node("conv", ["x", "w0"], "c0", conv), Node("relu", ["c0"], "r0"),
             Node("resize_nearest", ["r0"], "u", {"scale": (2, 2)}),
             Node("pad", ["u"], "p", {"mode": "reflect", "pads": (1, 1, 1, 1)}),
             Node("conv", ["p", "w1", "b1"], "y", conv)]
    g = Graph("x", "y", (1, 3, 24, 32), nodes, consts)
    g.infer_shapes()
    return g


def test_static_int8_quantizes_every_conv_of_a_shared_bias_and_the_program_loads():
    # the four parity convs share their bias in the IR: as one buffer, the quantizer took the first conv only and
    # the program carried float convs with an int32 bias, which XNNPACK refuses at load (kunster-t2-01's int8)
    from vst.convert import passes
    from vst.convert.ir import run_graph
    from vst.runtimes.executorch import ExecuTorchSession
    images = verify.eval_images(32, 24)
    g, res = passes.prove_and_apply(_wide_subpixel_graph(), "nearest_conv_subpixel", images)
    assert res.applied and [n.inputs[2] for n in g.nodes if n.op == "conv" and len(n.inputs) > 2] == ["b1"] * 4
    module = pte.GraphModule(g)
    biases = [n.inputs[2] for n in module.graph.nodes if n.op == "conv" and len(n.inputs) > 2]
    assert len(set(biases)) == 4 and all(np.array_equal(module.graph.consts[b], g.consts["b1"]) for b in biases)
    feed = verify.to_layout(images, "nhwc")
    program, convs = pte.quantize(pte.NHWCIO(module), torch.from_numpy(feed[:1]), feed, dynamic=False)
    assert [r["precision"] for r in convs] == ["int8-weights"] * 5
    data = pte.lower(program).data
    # the float weights the int8 ones replace are not carried beside the delegate
    from executorch.exir._serialize._program import deserialize_pte_binary
    assert sum(len(c.storage) for c in deserialize_pte_binary(data).program.constant_buffer) == 0
    got = ExecuTorchSession(data).run(feed[:1])
    with torch.no_grad():
        ref = run_graph(g, torch.from_numpy(images[:1])).permute(0, 2, 3, 1).numpy()
    assert verify.compare(ref, got)["psnr_db"] >= verify.THRESHOLDS_DB["int8"]


def test_dynamic_int8_conv_after_a_space_to_depth_runs():
    # ExecuTorch 1.5.1 placed the NHWC transpose of a dynamically quantized conv's input ahead of the space-to-depth
    # reshape (execute error 0x1); handed over channels-last, the conv's input needs none
    from vst.convert.ir import Graph, Node, run_graph
    from vst.runtimes.executorch import ExecuTorchSession
    rng = np.random.default_rng(0)
    consts = {"w0": rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3,
              "w1": rng.standard_normal((8, 32, 3, 3)).astype(np.float32) * 0.1}
    conv = {"stride": (1, 1), "dilation": (1, 1), "group": 1}
    g = Graph("x", "y", (1, 3, 24, 32), [Node("conv", ["x", "w0"], "c0", conv), Node("relu", ["c0"], "r0"),
                                         Node("space_to_depth", ["r0"], "s", {"block": 2}),
                                         Node("conv", ["s", "w1"], "y", conv)], consts)
    g.infer_shapes()
    images = verify.eval_images(32, 24)
    feed = verify.to_layout(images, "nhwc")
    program, convs = pte.quantize(pte.NHWCIO(pte.GraphModule(g)), torch.from_numpy(feed[:1]), feed, dynamic=True)
    assert convs[-1]["precision"] == "int8-weights"        # the conv after the space-to-depth
    got = ExecuTorchSession(pte.lower(program).data).run(feed[:1])
    with torch.no_grad():
        ref = run_graph(g, torch.from_numpy(images[:1])).permute(0, 2, 3, 1).numpy()
    assert verify.compare(ref, got)["psnr_db"] >= verify.THRESHOLDS_DB["int8"]


def test_static_int8_value_moving_ops_keep_their_inputs_quantization_and_the_program_loads():
    # a slice (torch.narrow) of a concat, a space-to-depth and its channels-last copy only move values: each must
    # carry its input's quantization. The quantizer's own sharing stopped at narrow (the chain ran in float) and
    # at the copy, an XNNPACK transpose that cannot requantize: observed apart, its scale could differ from its
    # input's and the program did not load (kunster-t2-03/08 at 320x240, t2-05/08/13 at 480x320, random weights)
    from vst.convert.ir import Graph, Node, run_graph
    from vst.runtimes.executorch import ExecuTorchSession
    rng = np.random.default_rng(0)
    consts = {"w0": rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "three": np.float32(3.0),
              "w1": rng.standard_normal((8, 32, 3, 3)).astype(np.float32) * 0.1}
    conv = {"stride": (1, 1), "dilation": (1, 1), "group": 1}
    g = Graph("x", "y", (1, 3, 24, 32), [
        Node("conv", ["x", "w0"], "c0", conv), Node("relu", ["c0"], "a"), Node("mul", ["a", "three"], "b"),
        Node("concat", ["a", "b"], "ab", {"axis": 1}), Node("slice", ["ab"], "s0", {"axis": 1, "start": 0, "end": 8}),
        Node("space_to_depth", ["s0"], "s", {"block": 2}), Node("conv", ["s", "w1"], "y", conv)], consts)
    g.infer_shapes()
    images = verify.eval_images(32, 24)
    feed = verify.to_layout(images, "nhwc")
    program, _ = pte.quantize(pte.NHWCIO(pte.GraphModule(g)), torch.from_numpy(feed[:1]), feed, dynamic=False)
    moves = [n for n in program.graph.nodes if n.op == "call_function" and (
        n.kwargs.get("memory_format") == torch.channels_last or n.target == torch.ops.aten.narrow.default)]
    assert len(moves) == 2
    for n in moves:
        q = next(iter(n.users))
        assert "quantize" in str(q.target) and tuple(n.args[0].args[1:3]) == tuple(q.args[1:3]), (n.args[0], q)
    got = ExecuTorchSession(pte.lower(program).data).run(feed[:1])
    with torch.no_grad():
        ref = run_graph(g, torch.from_numpy(images[:1])).permute(0, 2, 3, 1).numpy()
    assert verify.compare(ref, got)["psnr_db"] >= verify.THRESHOLDS_DB["int8"]

"""vst's passes on the XNNPACK graph of an ExecuTorch program (vst.convert.xnnpack_graph): the layout chains below
ExecuTorch's channels-last pass become one transpose and move the same values, int8 round trips that change
nothing are dropped, spatial means are taken by rows; and the IR rewrite that hands them a depth-to-space."""
import numpy as np
import pytest
import torch

from vst.convert import pte, verify, xnnpack_graph
from vst.convert.ir import Graph, Node, run_graph
from vst.convert.passes import REGISTRY

W, H = 32, 24
CONV = {"stride": (1, 1), "dilation": (1, 1), "group": 1}


def _apply(shape, steps):
    return xnnpack_graph._apply(np.arange(int(np.prod(shape))).reshape(shape), steps)


def test_a_depth_to_space_below_the_channels_last_pass_is_one_transpose_with_a_block_of_pixels():
    # NHWC -> NCHW, reshape, the 6-D shuffle, reshape, NCHW -> NHWC: ExecuTorch's three full-size transposes
    h, w, c = 5, 7, 3
    steps = [("t", (0, 3, 1, 2)), ("r", (1, 2, 2, c, h, w)), ("t", (0, 3, 4, 1, 5, 2)),
             ("r", (1, c, 2 * h, 2 * w)), ("t", (0, 2, 3, 1))]
    new = xnnpack_graph.simplest((1, h, w, 4 * c), steps)
    assert [k for k, _ in new] == ["r", "t", "r"]
    assert new[1][1] == (0, 2, 1, 3)          # rows and row parities swap; 2 * C values move as one block
    assert np.array_equal(_apply((1, h, w, 4 * c), steps), _apply((1, h, w, 4 * c), new).reshape(1, 2 * h, 2 * w, c))


def test_a_space_to_depth_from_nhwc_and_a_transpose_pair_that_cancels():
    h, w, c = 6, 8, 3
    steps = [("t", (0, 3, 1, 2)), ("r", (1, c, h // 2, 2, w // 2, 2)), ("t", (0, 3, 5, 1, 2, 4)),
             ("r", (1, 4 * c, h // 2, w // 2)), ("t", (0, 2, 3, 1))]
    new = xnnpack_graph.simplest((1, h, w, c), steps)
    assert sum(k == "t" for k, _ in new) == 1
    assert np.array_equal(_apply((1, h, w, c), steps), _apply((1, h, w, c), new).reshape(1, h // 2, w // 2, 4 * c))
    assert xnnpack_graph.simplest((1, h, w, c), [("t", (0, 3, 1, 2)), ("t", (0, 2, 3, 1))]) == []
    # a [1, C, 1, 1] vector to [1, 1, 1, C] moves nothing: a reshape
    assert xnnpack_graph.simplest((1, 4, 1, 1), [("t", (0, 2, 3, 1))]) == [("r", (1, 1, 1, 4))]


def _network() -> Graph:
    """A space-to-depth, a conv, a depth-to-space, instance-norm statistics (a mean and a mean of squares) on few
    channels at full size, and a conv back: what kunster's programs are made of."""
    rng = np.random.default_rng(0)
    consts = {"w0": rng.standard_normal((16, 12, 3, 3)).astype(np.float32) * 0.2,
              "w1": rng.standard_normal((3, 4, 3, 3)).astype(np.float32) * 0.2}
    g = Graph("x", "y", (1, 3, H, W), [
        Node("space_to_depth", ["x"], "s", {"block": 2}), Node("conv", ["s", "w0"], "c0", CONV),
        Node("relu", ["c0"], "r0"), Node("depth_to_space", ["r0"], "d", {"block": 2}),
        Node("reduce_mean", ["d"], "m", {"axes": (2, 3)}), Node("sub", ["d", "m"], "z"),
        Node("mul", ["d", "d"], "sq"), Node("reduce_mean", ["sq"], "m2", {"axes": (2, 3)}),
        Node("add", ["z", "m2"], "v"), Node("conv", ["v", "w1"], "y", CONV)], consts)
    g.infer_shapes()
    return g


@pytest.fixture(scope="module")
def network():
    g = _network()
    images = verify.eval_images(W, H)
    feed = verify.to_layout(images, "nhwc")
    module = pte.NHWCIO(pte.GraphModule(g), channels_last_hint=True)
    return module, feed


def _run(data, feed):
    from vst.runtimes.executorch import ExecuTorchSession
    session = ExecuTorchSession(data)
    return np.concatenate([session.run(feed[i:i + 1]) for i in range(len(feed))])


def test_collapsed_layout_chains_move_the_same_values_bit_for_bit(network):
    module, feed = network
    program = pte.export(module, torch.from_numpy(feed[:1]))
    plain = pte.lower(program)
    collapsed = pte.lower(program, graph_passes=("collapse_layout_chains",))
    assert collapsed.graph_passes["collapse_layout_chains"] >= 4   # s2d's and d2s's transposes, the input pair
    assert collapsed.delegation["subgraphs"] == 1 and collapsed.delegation["compute_nodes_outside"] == 0
    assert np.array_equal(_run(plain.data, feed), _run(collapsed.data, feed))


def test_means_by_rows_are_the_means(network):
    module, feed = network
    program = pte.export(module, torch.from_numpy(feed[:1]))
    ref = _run(pte.lower(program).data, feed)
    lowered = pte.lower(program, graph_passes=True)
    assert lowered.graph_passes["spatial_means_by_rows"] == 2          # 4 channels: both statistics
    assert verify.compare(ref, _run(lowered.data, feed))["psnr_db"] >= 100


def test_int8_round_trips_through_float_reshapes_are_dropped_bit_for_bit(network):
    module, feed = network
    program, _ = pte.quantize(module, torch.from_numpy(feed[:1]), feed, dynamic=False)
    plain = pte.lower(program)
    lowered = pte.lower(program, graph_passes=("drop_requantize_pairs", "collapse_layout_chains"))
    assert lowered.graph_passes["drop_requantize_pairs"] >= 1
    assert np.array_equal(_run(plain.data, feed), _run(lowered.data, feed))


def test_an_unknown_pass_is_refused():
    with pytest.raises(ValueError, match="no XNNPACK graph pass"):
        with xnnpack_graph.applied(("fold_everything",)):
            pass


def test_four_parities_interleaved_become_a_concat_and_a_depth_to_space_bit_for_bit():
    rng = np.random.default_rng(1)
    parts = [f"p{a}{b}" for a in (0, 1) for b in (0, 1)]
    consts = {f"w{p}": rng.standard_normal((5, 3, 3, 3)).astype(np.float32) for p in parts}
    nodes = [Node("conv", ["x", f"w{p}"], p, CONV) for p in parts]
    nodes += [Node("interleave", ["p00", "p01"], "r0", {"axis": 3}), Node("interleave", ["p10", "p11"], "r1",
                                                                           {"axis": 3}),
              Node("interleave", ["r0", "r1"], "y", {"axis": 2})]
    g = Graph("x", "y", (1, 3, H, W), nodes, consts)
    g.infer_shapes()
    new, count = REGISTRY["interleaves_as_depth_to_space"](g)
    assert count == 1 and [n.op for n in new.nodes][-2:] == ["concat", "depth_to_space"]
    assert not any(n.op == "interleave" for n in new.nodes)
    x = torch.from_numpy(verify.eval_images(W, H))
    with torch.no_grad():
        assert torch.equal(run_graph(g, x), run_graph(new, x))


def test_widened_constants_are_stored_channels_last_and_never_transposed_at_run_time(monkeypatch):
    # a [1, C, 1, W] operand (widen_channel_broadcasts) held in NCHW order was transposed to NHWC on every run
    seen = []
    real = xnnpack_graph.run
    monkeypatch.setattr(xnnpack_graph, "run", lambda g, stats, names: (real(g, stats, names), seen.append(g)))
    rng = np.random.default_rng(2)
    consts = {"w0": rng.standard_normal((6, 3, 3, 3)).astype(np.float32) * 0.3,
              "shift": rng.standard_normal((1, 6, 1, W - 2)).astype(np.float32)}
    g = Graph("x", "y", (1, 3, H, W), [Node("conv", ["x", "w0"], "c0", CONV), Node("add", ["c0", "shift"], "y")],
              consts)
    g.infer_shapes()
    images = verify.eval_images(W, H)
    feed = verify.to_layout(images, "nhwc")
    module = pte.NHWCIO(pte.GraphModule(g), channels_last_hint=True)
    lowered = pte.lower(pte.export(module, torch.from_numpy(feed[:1])), graph_passes=True)
    kinds = [type(n.xnode_union).__name__ for n in seen[-1].xnodes]
    assert "XNNStaticTranspose" not in kinds and kinds.count("XNNAdd") == 1
    with torch.no_grad():
        ref = run_graph(g, torch.from_numpy(images)).permute(0, 2, 3, 1).numpy()
    assert verify.compare(ref, _run(lowered.data, feed))["psnr_db"] >= 100


def test_an_untrained_norms_zero_shift_and_unit_scale_are_folded_and_a_real_one_is_kept():
    rng = np.random.default_rng(3)
    consts = {"w0": rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "zeros": np.zeros((1, 4, 1, 1), np.float32),
              "ones": np.ones((1, 4, 1, 1), np.float32), "beta": np.full((1, 4, 1, 1), 0.5, np.float32),
              "wide": np.zeros((1, 4, H - 2, W - 2), np.float32)}
    g = Graph("x", "y", (1, 3, H, W), [
        Node("conv", ["x", "w0"], "c0", CONV), Node("mul", ["ones", "c0"], "a"), Node("add", ["a", "zeros"], "b"),
        Node("sub", ["b", "zeros"], "c"), Node("sub", ["zeros", "c"], "d"),         # 0 - x is not x
        Node("add", ["d", "beta"], "e"), Node("add", ["zeros", "wide"], "f"),      # x + 0 that widens x stays
        Node("add", ["e", "f"], "y")], consts)
    g.infer_shapes()
    new, count = REGISTRY["fold_identity_affines"](g)
    assert count == 3
    assert [n.op for n in new.nodes] == ["conv", "sub", "add", "add", "add"]
    x = torch.from_numpy(verify.eval_images(W, H))
    with torch.no_grad():
        assert torch.equal(run_graph(g, x), run_graph(new, x))

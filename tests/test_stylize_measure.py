"""vst.stylize.measure, the functions behind docs/stylize.md's video figures, on tiny inputs: structure and
sanity only (nothing timed against a threshold)."""
import numpy as np
import pytest

from vst.common.errors import VstError
from vst.stylize import measure

MODEL = "kunster.a025-s05-stage2"
W, H = 64, 48


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import av
    path = tmp_path_factory.mktemp("clip") / "c.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (H + 8, W + 8, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        for i in range(6):
            for p in v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(base[i:i + H, i:i + W]),
                                                         format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def test_keyframe_study_rows(clip):
    res = measure.keyframe_study(MODEL, frames=5, ks=[2], video=clip, pan_frames=4, size=(W, H))
    assert res["frames"] == 5 and res["size"] == [W, H] and sorted(res["rows"]) == ["K=2", "full"]
    row = res["rows"]["K=2"]
    assert 0 < row["ms_ssim_interpolated_vs_direct"] <= 1 and 0 < row["ms_ssim_all_vs_direct"] <= 1
    assert row["speedup_wall"] > 0 and row["temporal_error"] >= 0 and res["rows"]["full"]["stylize_s_per_frame"] > 0
    with pytest.raises(VstError):
        measure.keyframe_study(MODEL, frames=5, ks=[1], video=clip, size=(W, H))


def test_end_to_end_writes_the_video(clip, tmp_path):
    out = tmp_path / "s.mp4"
    rec = measure.end_to_end(MODEL, out, clip)
    assert out.is_file() and rec["frames"] == 6 and rec["end_to_end_fps"] > 0


def test_flow_accuracy_rows():
    res = measure.flow_accuracy((W, H), n_frames=3)
    assert sorted(res) == ["dis", "farneback"]
    assert all(r["epe_px"] >= 0 and r["ms_per_frame"] > 0 for r in res.values())
    with pytest.raises(VstError):
        measure.flow_accuracy((W, H), n_frames=3, methods=["nope"])


def conv_onnx(path, seed):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.random.default_rng(seed).random((3, 3, 3, 3), np.float32) / 9, "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, H, W])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, H, W])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def test_precision_ratios(tmp_path):
    arts = {"fp32": conv_onnx(tmp_path / "a.onnx", 0), "int8": conv_onnx(tmp_path / "b.onnx", 1)}
    res = measure.precision_ratios(arts, (W, H), n_frames=3)
    assert sorted(res["temporal_error"]) == ["fp32", "int8"]
    assert res["int8/fp32"] == pytest.approx(res["temporal_error"]["int8"] / res["temporal_error"]["fp32"])
    with pytest.raises(VstError):
        measure.precision_ratios({"int8": arts["int8"]}, (W, H))

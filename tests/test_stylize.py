"""vst-stylize and vst-live on tiny videos: frame count, rate and audio kept, resumable, key frames after 002
Alg. 1 (interpolation beats holding the key frame), bad inputs as one line with nothing left behind."""
import json
from fractions import Fraction

import av
import numpy as np
import pytest

from vst.common.cli import run_cli
from vst.common.synthclips import Motion, render_clip
from vst.common.images import sample_photos
from vst.metrics.quality import ms_ssim
from vst.stylize import cli, live
from vst.stylize.frames import LocalStylizer
from vst.stylize.keyframes import KeySchedule, KeyframeInterpolator
from vst.stylize.video import output_frames, stylize_video, work_dir
from vst.video.codec import probe

MODEL = "kunster.a025-s05-stage2"
W, H, N, FPS = 64, 48, 10, 10


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory):
    """An H.264 pan over a photo with an AAC tone: N frames at FPS."""
    c = render_clip(sample_photos(("coffee",))["coffee"], (W, H), N, Motion(zoom=(1.0, 1.1), pan=(0.2, 0.05)))
    path = tmp_path_factory.mktemp("clip") / "in.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        for f in c.frames:
            for p in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for p in a.encode(frame):
            out.mux(p)
        for p in a.encode():
            out.mux(p)
    return path, c


def audio_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size] if c.streams.audio else []


def test_stylize_keeps_frames_rate_audio_and_matches_the_model(clip_with_audio, tmp_path):
    src, _ = clip_with_audio
    out = tmp_path / "o.mp4"
    assert run_cli(cli.main, [str(src), "-m", MODEL, "-o", str(out), "--segment", "4"]) == 0
    i, o = probe(src), probe(out)
    assert (o.frames, o.rate, o.width, o.height) == (N, Fraction(FPS), W, H)
    assert audio_packets(out) == audio_packets(src) and audio_packets(src)      # copied, not re-encoded
    model = LocalStylizer(MODEL, (W, H))
    direct = np.stack([model(f) for f in output_frames(src)])
    got = np.stack(output_frames(out))
    err = np.abs(got.astype(float) - direct).mean()
    assert err < 4, err                    # only H.264's loss between the file and the model's own output
    assert not work_dir(out).exists() and [p.name for p in tmp_path.iterdir()] == ["o.mp4"]


def test_interrupted_run_resumes_from_finished_segments(clip_with_audio, tmp_path):
    src, _ = clip_with_audio
    out = tmp_path / "r.mp4"
    model = LocalStylizer(MODEL, (W, H))
    calls = []

    class Dies:
        size = model.size

        def __call__(self, rgb):
            calls.append(1)
            if len(calls) == 6:
                raise KeyboardInterrupt
            return model(rgb)
    with pytest.raises(KeyboardInterrupt):
        stylize_video(src, MODEL, out, segment=4, progress=False, stylizer=Dies())
    assert not out.exists() and sorted(p.name for p in work_dir(out).glob("seg*.mp4")) == ["seg00000.mp4"]
    stats = stylize_video(src, MODEL, out, segment=4, progress=False, stylizer=Dies())
    assert stats["stylized_now"] == N - 4 and probe(out).frames == N and not work_dir(out).exists()


def test_side_by_side_is_input_then_output(clip_with_audio, tmp_path):
    src, _ = clip_with_audio
    out = tmp_path / "s.mp4"
    stats = stylize_video(src, MODEL, out, progress=False, sbs=True)
    first = output_frames(out)[0]
    assert first.shape == (H, 2 * W, 3)
    assert stats["output_size"] == [2 * W, H] and stats["size"] == [W, H]     # the console says what was written
    assert np.abs(first[:, :W].astype(float) - output_frames(src)[0]).mean() < 4


def test_keyframe_interpolation_follows_the_flow(tmp_path):
    """002 Alg. 1 on a pan with exact motion: warped intermediate frames are close to directly stylized ones and
    clearly closer than holding the key frame (a flow taken the wrong way round fails this)."""
    c = render_clip(sample_photos(("chelsea",))["chelsea"], (128, 96), 5, Motion(zoom=(1.0, 1.0), pan=(0.5, 0.2),
                                                                                 layer_radius=0))
    model = LocalStylizer(MODEL, (128, 96))
    interp = KeyframeInterpolator(model, KeySchedule.parse("every:5"))
    outs = [interp(i, f) for i, f in enumerate(c.frames)]
    assert [k for _, k in outs] == [True] + [False] * 4
    direct = [model(f) for f in c.frames[1:]]
    warped = ms_ssim(np.stack(direct), np.stack([o for o, _ in outs[1:]]))
    held = ms_ssim(np.stack(direct), np.stack([outs[0][0]] * 4))
    assert warped > 0.85 and warped > held + 0.05, (warped, held)
    s = interp.timings.summary()
    assert s["key_frames"] == 1 and s["interpolated_frames"] == 4 and s["speedup_eq6_prediction"] == 5


def test_keyframes_every_k_restart_at_each_segment(clip_with_audio, tmp_path):
    src, _ = clip_with_audio
    stats = stylize_video(src, MODEL, tmp_path / "k.mp4", keyframes="every:3", segment=5, progress=False)
    # segments 0-4 and 5-9, key frames at 0, 3 and 5, 8
    assert stats["keyframes"]["key_frames"] == 4 and stats["keyframes"]["interpolated_frames"] == 6
    assert probe(tmp_path / "k.mp4").frames == N


def test_ms_ssim_is_one_for_equal_frames_and_works_on_small_ones():
    a = np.random.default_rng(0).integers(0, 255, (2, 40, 56, 3), dtype=np.uint8)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(a, 255 - a) < 0.5


@pytest.mark.parametrize("spec", ["every:0", "iframes:2", "change:300", "sometimes"])
def test_bad_keyframe_schedules(spec):
    from vst.common.errors import VstError
    with pytest.raises(VstError, match="--keyframes"):
        KeySchedule.parse(spec)


def tiny_vector_onnx(path):
    """A model whose output is not an image: a 1x1 convolution to 8 channels."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((8, 3, 1, 1), np.float32), "w")
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, "h", "w"])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def test_bad_inputs_are_one_line_and_leave_nothing(clip_with_audio, tmp_path, capsys):
    src, _ = clip_with_audio
    notvideo = tmp_path / "x.mp4"
    notvideo.write_text("not a video")
    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as c:        # a header and no frame
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [([str(notvideo), "-m", MODEL], "not a readable video"),
             ([str(empty), "-m", MODEL], "no video"),
             ([str(src), "-m", str(tiny_vector_onnx(tmp_path / "vec.onnx"))], "not an RGB image"),
             ([str(src), "-m", MODEL, "--keyframes", "every:x"], "--keyframes")]
    for args, message in cases:
        out = tmp_path / "out" / "o.mp4"
        assert run_cli(cli.main, args + ["-o", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert run_cli(cli.main, [str(src), "-m", MODEL, "-o", str(blocker / "o.mp4")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_live_paces_a_file_source_drops_and_records(clip_with_audio, tmp_path, capsys):
    src, _ = clip_with_audio
    out = tmp_path / "live.mp4"
    assert run_cli(cli.live_main, ["-m", MODEL, "--source", str(src), "--fps", "30", "-o", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["captured"] == N and s["delivered"] + s["dropped"] == N and s["delivered"] >= 1
    assert s["drop_ratio"] == pytest.approx(s["dropped"] / N)
    assert 0 < s["latency_ms_p50"] <= s["latency_ms_p90"]
    assert probe(out).frames == s["delivered"]
    assert run_cli(cli.live_main, ["-m", MODEL, "--source", "97", "-o", str(tmp_path / "c.mp4")]) == 2
    assert "camera 97" in capsys.readouterr().err and not (tmp_path / "c.mp4").exists()

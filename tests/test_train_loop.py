"""A few training steps lower the loss, checkpoints load through vst.models.load_model, interrupted runs resume."""
import numpy as np
import pytest
import torch

from vst.common.errors import VstError
from vst.models import create_model, load_model, read_metadata, save_model
from vst.training.loop import Recipe, forward_with_features, train


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VST_CACHE", str(tmp_path / "cache"))


def _quiet(_msg):
    pass


def _stage1(**kw):
    base = dict(stage=1, model="kunster", config={"alpha": 0.25, "beta": 0.5}, teacher="multistyle26:5", size=32,
                steps=60, batch=4, lr=5e-3, crops=16)
    base.update(kw)
    return Recipe(**base)


def test_forward_with_features_matches_forward():
    torch.manual_seed(0)
    for name, cfg in (("kunster", {"alpha": 0.25, "beta": 0.5}), ("huang", {})):
        m = create_model(name, **cfg).eval()
        x = torch.rand(1, 3, 32, 32)
        y, feat = forward_with_features(m, x)
        assert torch.allclose(y, m(x), atol=1e-6) and feat.shape[-1] == 8


def test_distillation_lowers_loss_and_writes_loadable_checkpoint(tmp_path):
    torch.manual_seed(0)
    out = train(_stage1(), tmp_path / "s1.safetensors", log=_quiet)
    meta = read_metadata(out)
    history = meta["extra"]["loss_history"]
    assert history[-1][1] < 0.7 * history[0][1]
    assert meta["extra"]["recipe"]["teacher"] == "multistyle26:5" and meta["arch"] == "kunster"
    model = load_model(out)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    # the teacher outputs were cached once: a second recipe over the same data reuses them
    cached = list((tmp_path / "cache" / "teacher").glob("*.npz"))
    assert len(cached) == 1


def test_stage2_temporal_finetune_from_stage1(tmp_path):
    torch.manual_seed(0)
    s1 = save_model(create_model("kunster", alpha=0.25, beta=0.5), tmp_path / "s1.safetensors")
    r = Recipe(stage=2, init=str(s1), teacher="multistyle26:5", size=32, steps=50, batch=2, lr=5e-3, clips=4,
               clip_frames=3, w_temporal_output=20.0, w_temporal_feature=2.0, w_noise=1.0)
    out = train(r, tmp_path / "s2.safetensors", log=_quiet)
    meta = read_metadata(out)["extra"]
    assert meta["stage"] == 2 and meta["recipe"]["init"] == str(s1)
    assert meta["loss_history"][-1][1] < meta["loss_history"][0][1]
    assert len(list((tmp_path / "cache" / "pairs").glob("*.npz"))) == 1  # frames, flows, masks cached once
    load_model(out)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    torch.manual_seed(0)
    full = train(_stage1(steps=100), tmp_path / "full.safetensors", run_dir=tmp_path / "run-a",
                 checkpoint_every=20, log=_quiet)

    def interrupt(msg):
        if msg.startswith("step 50/"):
            raise KeyboardInterrupt

    torch.manual_seed(0)
    part = tmp_path / "part.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train(_stage1(steps=100), part, run_dir=tmp_path / "run-b", checkpoint_every=20, log=interrupt)
    assert not part.exists() and (tmp_path / "run-b" / "state.pt").is_file()
    msgs = []
    train(_stage1(steps=100), part, run_dir=tmp_path / "run-b", checkpoint_every=20, log=msgs.append)
    assert any(m.startswith("resuming at step 40") for m in msgs)
    a, b = load_model(full).state_dict(), load_model(part).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    # a finished result is not retrained
    msgs.clear()
    train(_stage1(steps=100), part, run_dir=tmp_path / "run-b", log=msgs.append)
    assert any("nothing to do" in m for m in msgs)


def test_perceptual_stage1_with_generated_vgg(tmp_path):
    import cv2
    from vst.training.vgg import random_vgg16_state_dict
    torch.save(random_vgg16_state_dict(), tmp_path / "vgg16.pth")
    style = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "style.png"), style)
    torch.manual_seed(0)
    r = _stage1(teacher=None, vgg=str(tmp_path / "vgg16.pth"), style_image=str(tmp_path / "style.png"),
                steps=40, w_content=1.0, w_style=1e3, w_tv=1.0, lr=1e-2)
    out = train(r, tmp_path / "p.safetensors", log=_quiet)
    history = read_metadata(out)["extra"]["loss_history"]
    assert history[-1][1] < history[0][1]


def test_user_errors_are_one_line(tmp_path):
    from vst.training.cli import main
    with pytest.raises(VstError, match="--teacher multistyle26"):
        main(["--out", str(tmp_path / "x.safetensors")])
    with pytest.raises(VstError, match="torchvision"):
        main(["--vgg", str(tmp_path / "missing.pth"), "--style-image", "x.png", "--out", str(tmp_path / "x.safetensors")])
    with pytest.raises(VstError, match="--init"):
        main(["--stage", "2", "--teacher", "multistyle26:1", "--out", str(tmp_path / "x.safetensors")])
    with pytest.raises(VstError, match="0 to 25"):
        main(["--teacher", "multistyle26", "--out", str(tmp_path / "x.safetensors")])


def test_distillation_from_a_vst_checkpoint_teacher(tmp_path):
    from vst.runtimes.stylizer import load_runner
    torch.manual_seed(1)
    teacher = save_model(create_model("kunster", alpha=0.25, beta=0.5), tmp_path / "teacher.safetensors")
    runner = load_runner(str(teacher))
    assert runner.identity.startswith("vst:")
    torch.manual_seed(0)
    out = train(_stage1(teacher=str(teacher), steps=40, lr=1e-2), tmp_path / "student.safetensors", log=_quiet)
    history = read_metadata(out)["extra"]["loss_history"]
    assert history[-1][1] < 0.7 * history[0][1]
    with pytest.raises(VstError, match="no style index"):
        load_runner(f"{teacher}:3")


def test_stage2_on_user_videos(tmp_path, write_video):
    from vst.common.images import sample_photos
    from vst.common.synthclips import Motion, render_clip
    clip = render_clip(sample_photos(("rocket",))["rocket"], (48, 48), 6, Motion(pan=(0.3, 0.1)),
                       sample_photos(("chelsea",))["chelsea"])
    write_video(tmp_path / "videos" / "a.avi", clip.frames)
    torch.manual_seed(0)
    s1 = save_model(create_model("kunster", alpha=0.25, beta=0.5), tmp_path / "s1.safetensors")
    r = Recipe(stage=2, init=str(s1), teacher="multistyle26:5", size=32, steps=10, batch=2, clips=2, clip_frames=3,
               videos=str(tmp_path / "videos"), w_temporal_output=10.0, w_temporal_feature=1.0)
    msgs = []
    out = train(r, tmp_path / "s2.safetensors", log=msgs.append)
    assert any("4 frame pairs" in m for m in msgs)  # 2 runs of 3 frames from the one video
    assert len(list((tmp_path / "cache" / "flow").glob("*.npz"))) == 4
    assert read_metadata(out)["extra"]["recipe"]["videos"] == str(tmp_path / "videos")

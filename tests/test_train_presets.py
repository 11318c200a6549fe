"""Paper loss forms on inputs with known answers (luminance constraint, feature tap, Gram/TV forms, pair gaps),
VGG19 loading, per-paper presets and their record in the checkpoint."""
import json

import numpy as np
import pytest
import torch

from vst.common.errors import VstError
from vst.common.images import sample_photos
from vst.common.synthclips import Motion, render_clip
from vst.models import create_model, read_metadata
from vst.training import losses
from vst.training.cli import build_parser, recipe_from_args
from vst.training.data import clips_to_pairs
from vst.training.loop import Recipe, forward_with_features, train
from vst.training.presets import preset_names
from vst.training.vgg import NET_TAPS, load_vgg, random_vgg_state_dict
from vst.video.clips import clip_masks
from vst.video.flow import warp


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VST_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def moving_clip():
    photos = list(sample_photos().values())
    return render_clip(photos[0], (48, 48), 4, Motion(zoom=(1.0, 1.1), pan=(0.2, 0.1), layer_speed=(2.0, 1.0)),
                       photos[1])


def _pair_tensors(clip, t, brighten=0.0):
    x0 = torch.from_numpy(clip.frames[t]).permute(2, 0, 1)[None].float() / 255
    x1 = torch.from_numpy(clip.frames[t + 1]).permute(2, 0, 1)[None].float() / 255 + brighten
    flow = torch.from_numpy(clip.flow_bwd[t]).permute(2, 0, 1)[None]
    mask = torch.from_numpy(clip_masks(clip)[t].astype(np.float32))[None, None]
    return x0, x1, flow, mask


def test_global_brightness_ramp_costs_nothing_with_the_luminance_constraint():
    # static scene, every frame 0.05 brighter; a stylizer that passes the brightening through (identity)
    x0 = torch.rand(1, 3, 16, 16) * 0.5
    x1 = x0 + 0.05
    flow, mask = torch.zeros(1, 2, 16, 16), torch.ones(1, 1, 16, 16)
    assert losses.luminance_temporal(x1, x0, x1, x0, flow, mask).item() == pytest.approx(0, abs=1e-10)
    assert losses.masked_temporal(x1, x0, flow, mask).item() == pytest.approx(0.05 ** 2, rel=1e-4)
    # an output that stays put while the input brightens is what the constraint penalises: 3 channels x 0.05^2
    assert losses.luminance_temporal(x0, x0, x1, x0, flow, mask).item() == pytest.approx(3 * 0.05 ** 2, rel=1e-4)
    # a colour change of zero luminance (R up, G down in the 0.2126 : 0.7152 ratio) is not excused
    shift = torch.tensor([0.7152, -0.2126, 0.0]).view(1, 3, 1, 1) * 0.1
    assert losses.luminance(shift).abs().max().item() < 1e-8
    assert losses.luminance_temporal(x0 + shift, x0, x0 + shift, x0, flow, mask).item() > 1e-3


def test_brightness_ramp_on_a_moving_clip_leaves_only_the_resampling_floor(moving_clip):
    lum, plain, floor = [], [], []
    for t in range(3):
        x0, x1, flow, mask = _pair_tensors(moving_clip, t, brighten=0.08)
        lum.append(losses.luminance_temporal(x1, x0, x1, x0, flow, mask).item())
        plain.append(losses.masked_temporal(x1, x0, flow, mask).item())
        y0, y1, _, _ = _pair_tensors(moving_clip, t)
        floor.append(losses.masked_temporal(y1, y0, flow, mask).item())
    # identity "stylizer" on exact flow: the luminance-aware loss is at the resampling floor, the plain one is
    # dominated by the ramp (0.08^2 = 0.0064 times the trusted fraction)
    assert np.mean(lum) < 3 * 3 * np.mean(floor)
    assert np.mean(plain) > 10 * np.mean(lum)


def test_feature_tap_after_the_residual_blocks():
    torch.manual_seed(0)
    m = create_model("kunster", alpha=0.25, beta=0.5).eval()
    x = torch.rand(1, 3, 32, 32)
    y, feat = forward_with_features(m, x, "residuals")
    assert torch.allclose(y, m(x), atol=1e-6)
    assert torch.allclose(feat, m.residuals(m.encoder(x)))
    _, before = forward_with_features(m, x, "encoder")
    assert not torch.allclose(feat, before)


def test_gram_style_and_tv_forms():
    torch.manual_seed(0)
    f = torch.rand(2, 4, 3, 5)
    assert torch.allclose(losses.gram(f, "hw"), losses.gram(f, "chw") * 4)
    target = {"a": torch.rand(1, 4, 4)}
    mean = losses.style_loss({"a": f}, target, "hw", "mean").item()
    total = losses.style_loss({"a": f}, target, "hw", "sum").item()
    assert total == pytest.approx(16 * mean, rel=1e-5)  # 001 eq. 5: 1/C^2 ||G - G_s||_F^2
    two = {"a": target["a"], "b": target["a"]}
    assert losses.style_loss({"a": f, "b": f}, two, layer_mean=True).item() == pytest.approx(
        losses.style_loss({"a": f}, target).item(), rel=1e-6)
    # horizontal ramp of step 0.1 in one channel: dx = 0.1 everywhere, dy = 0
    img = torch.zeros(1, 3, 4, 5)
    img[0, 1] = torch.arange(5).float() * 0.1
    assert losses.tv_loss(img, "iso_sum").item() == pytest.approx(3 * 4 * 0.1, rel=1e-3)  # (H-1)(W-1) pixels
    assert losses.tv_loss(img, "abs_sum").item() == pytest.approx(4 * 4 * 0.1, rel=1e-5)
    assert losses.tv_loss(img, "sq_mean").item() == pytest.approx(0.01 / 3, rel=1e-5)
    # diagonal: both differences at a pixel combine under one square root
    diag = torch.zeros(1, 1, 3, 3)
    diag[0, 0] = torch.tensor([[0, 3, 6], [4, 7, 10], [8, 11, 14]], dtype=torch.float32)
    assert losses.tv_loss(diag, "iso_sum").item() == pytest.approx(4 * 5.0, rel=1e-4)


def test_pairs_two_frames_apart_chain_the_exact_flow(moving_clip):
    one = clips_to_pairs([moving_clip], (1,))
    both = clips_to_pairs([moving_clip], (1, 2))
    assert len(one["prev"]) == 3 and len(both["prev"]) == 3 + 2
    for k in range(3):  # the consecutive pairs are unchanged by adding gap 2
        assert np.array_equal(both["flow"][k], one["flow"][k]) and np.array_equal(both["mask"][k], one["mask"][k])

    def err(i):
        prev = torch.from_numpy(both["prev"][i]).permute(2, 0, 1)[None].float() / 255
        nxt = torch.from_numpy(both["next"][i]).permute(2, 0, 1)[None].float() / 255
        m = torch.from_numpy(both["mask"][i])[None, None].float()
        w = warp(prev, torch.from_numpy(both["flow"][i]).permute(2, 0, 1)[None])
        return ((nxt - w).abs() * m).sum().item() / m.sum().item() / 3, m.mean().item()
    gap1 = [err(i) for i in range(3)]
    gap2 = [err(i) for i in range(3, 5)]
    # (t-2 -> t) warps as well as a consecutive pair (resampling error only) and trusts a little fewer pixels
    assert max(e for e, _ in gap2) < 1.5 * max(e for e, _ in gap1) and max(e for e, _ in gap2) < 0.03
    assert 0.5 < min(m for _, m in gap2) <= max(m for _, m in gap1)


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vggs")
    paths = {}
    for net in ("vgg16", "vgg19"):
        paths[net] = folder / f"{net}.pth"
        torch.save(random_vgg_state_dict(net, 3), paths[net])
    return paths


def test_vgg19_loads_beside_vgg16(vgg_files):
    # torchvision's indices: vgg19 relu4_2 = features.22, relu5_1 = 29; vgg16 relu4_3 = 22
    assert NET_TAPS["vgg19"]["relu4_2"] == 22 and NET_TAPS["vgg19"]["relu5_1"] == 29
    assert NET_TAPS["vgg16"]["relu4_3"] == 22 and NET_TAPS["vgg16"]["relu3_3"] == 15
    state = torch.load(vgg_files["vgg19"], weights_only=True)
    layers = ("relu1_2", "relu3_4", "relu4_2", "relu5_1")
    x = torch.rand(1, 3, 32, 32)
    vgg = load_vgg(vgg_files["vgg19"], "vgg19", layers)
    feats = vgg(x, layers)
    assert feats["relu4_2"].shape == (1, 512, 4, 4) and feats["relu5_1"].shape == (1, 512, 2, 2)
    # relu3_4 exists only in vgg19; its value from the file's tensors by hand
    h = (x - vgg.mean) / vgg.std
    for i in (0, 2, "M", 5, 7, "M", 10, 12, 14, 16):
        h = torch.nn.functional.max_pool2d(h, 2) if i == "M" else torch.relu(torch.nn.functional.conv2d(
            h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1))
    assert torch.allclose(feats["relu3_4"], h, atol=1e-4)
    with pytest.raises(VstError, match="vgg16 has no layer 'relu3_4'"):
        load_vgg(vgg_files["vgg16"], "vgg16", ("relu3_4",))
    with pytest.raises(VstError, match="conv layers"):  # a vgg16 file read as vgg19 up to a shared layer
        load_vgg(vgg_files["vgg16"], "vgg19", ("relu1_2",))
    with pytest.raises(VstError, match="vgg19"):
        load_vgg(vgg_files["vgg19"], "vgg16", ("relu4_3",))


def _args(*argv):
    return recipe_from_args(build_parser().parse_args([*argv, "--out", "x.safetensors"]))


def test_presets_set_paper_values_and_flags_win():
    assert set(preset_names()) == {"huang2017", "johnson2016", "kunster2020", "reconet"}
    h = _args("--preset", "huang2017", "--stage", "2", "--lr", "5e-4")
    assert (h.loss_net, h.content_layer, h.gram_norm, h.tv_form, h.model) == ("vgg19", "relu4_2", "hw", "iso_sum",
                                                                              "huang-353-res48")
    assert (h.w_content, h.w_style, h.w_tv, h.w_temporal_output, h.batch, h.lr) == (1.0, 10.0, 1e-3, 1e4, 2, 5e-4)
    r = _args("--preset", "reconet", "--stage", "2", "--pair-gaps", "1,2")
    assert (r.feature_tap, r.temporal_output_form, r.loss_range, r.pair_gaps) == ("residuals", "luminance", "pm1",
                                                                                  [1, 2])
    assert r.w_temporal_feature == 1e5 and r.w_temporal_output == 2e5
    # without a preset nothing changes: the shipped recipes keep their recorded form
    d = _args("--stage", "2", "--init", "s1.safetensors")
    assert (d.w_temporal_output, d.w_temporal_feature, d.model, d.size) == (10.0, 1.0, "kunster", 128)
    assert set(d.to_json()) == set(Recipe().to_json()) and "feature_tap" not in d.to_json()
    with pytest.raises(VstError, match="pair-gaps"):
        _args("--pair-gaps", "1,x")


def test_shipped_recipes_read_back_unchanged():
    from vst.training import shipped_model_info
    for info in shipped_model_info():
        recorded = info["recipe"]
        assert Recipe.from_json(recorded).to_json() == recorded


def test_reconet_preset_trains_single_stage_and_records_itself(tmp_path, vgg_files):
    from vst.common.images import save_png
    style = tmp_path / "style.png"
    save_png(style, (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    args = build_parser().parse_args(["--preset", "reconet", "--stage", "2", "--model", "kunster",
                                      "--set", "alpha=0.25", "--set", "beta=0.5", "--vgg", str(vgg_files["vgg16"]),
                                      "--style-image", str(style), "--size", "32", "--steps", "2", "--clips", "2",
                                      "--clip-frames", "3", "--pair-gaps", "1,2", "--out", str(tmp_path / "r.safetensors")])
    out = train(recipe_from_args(args), tmp_path / "r.safetensors", log=lambda _m: None)
    rec = read_metadata(out)["extra"]["recipe"]
    assert rec["preset"] == "reconet" and rec["feature_tap"] == "residuals" and rec["pair_gaps"] == [1, 2]
    assert rec["temporal_output_form"] == "luminance" and rec["w_temporal_output"] == 2e5 and rec["init"] is None
    assert json.dumps(rec)  # plain JSON all through

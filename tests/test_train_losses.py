"""Each loss against hand-computed values, and the VGG16 loader on a generated torchvision-layout state_dict."""
import pytest
import torch
import torch.nn.functional as F

from vst.common.errors import VstError
from vst.training import losses
from vst.training.vgg import TAPS, load_vgg16, random_vgg16_state_dict


def test_gram_is_normalised_by_c_h_w():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)  # channel 0 = [1, 2], channel 1 = [3, 4]
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]], dtype=torch.float32) / (2 * 1 * 2)
    assert torch.allclose(losses.gram(f)[0], expected)


def test_content_and_distill_are_mean_squared_error():
    a = torch.tensor([0.0, 1.0, 2.0, 3.0]).reshape(1, 1, 2, 2)
    b = torch.tensor([1.0, 1.0, 0.0, 3.0]).reshape(1, 1, 2, 2)
    assert losses.content_loss(a, b).item() == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert losses.distill_loss(a, b).item() == pytest.approx(5 / 4)


def test_style_loss_sums_gram_mse_over_layers():
    f1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    f2 = torch.ones(1, 1, 2, 2) * 2  # gram = 4*4/(1*2*2) = 4
    targets = {"a": torch.zeros(1, 2, 2), "b": torch.ones(1, 1, 1)}
    g1 = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    expected = g1.pow(2).mean().item() + (4 - 1) ** 2
    assert losses.style_loss({"a": f1, "b": f2}, targets).item() == pytest.approx(expected)


def test_total_variation_by_hand():
    img = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).reshape(1, 1, 2, 2)
    # horizontal differences 1, 2 -> mean square 2.5; vertical 2, 3 -> 6.5
    assert losses.tv_loss(img).item() == pytest.approx(9.0)


def test_warp_integer_shift_and_output_temporal_loss():
    prev = torch.arange(36, dtype=torch.float32).reshape(1, 1, 6, 6)
    flow = torch.zeros(1, 2, 6, 6)
    flow[:, 0] = -1.0  # pixel p of the current frame came from one pixel to the left
    warped = losses.warp(prev, flow)
    assert torch.allclose(warped[..., 1:], prev[..., :-1])
    cur = warped + 0.5
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :3] = 1  # half the pixels trusted
    # (1/D) sum c (0.5)^2 with D = 36 and 18 trusted pixels
    assert losses.masked_temporal(cur, prev, flow, mask).item() == pytest.approx(0.25 * 18 / 36)


def test_feature_temporal_uses_flow_at_feature_resolution():
    flow = torch.zeros(1, 2, 16, 16)
    flow[:, 0] = -4.0  # 4 px at full resolution is 1 px at 1/4 resolution
    mask = torch.ones(1, 1, 16, 16)
    mask[..., 0, 0] = 0  # one untrusted pixel makes its whole 4x4 cell untrusted
    small, small_mask = losses.downsample_flow(flow, mask, (4, 4))
    assert torch.allclose(small[:, 0], torch.full((1, 4, 4), -1.0))
    assert small_mask.sum().item() == 15 and small_mask[0, 0, 0, 0] == 0
    prev = torch.rand(1, 3, 4, 4)
    cur = losses.warp(prev, small) + 0.1
    assert losses.feature_temporal(cur, prev, flow, mask).item() == pytest.approx(0.01 * 15 / 16, rel=1e-5)


def test_noise_touches_a_fraction_within_amplitude_and_stability_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.full((2, 3, 32, 32), 0.5)
    noisy = losses.add_pixel_noise(x, fraction=0.25, amplitude=0.1, generator=g)
    changed = (noisy != x).any(dim=1).float().mean().item()
    assert 0.18 < changed < 0.32
    assert (noisy - x).abs().max().item() <= 0.1 + 1e-6
    expected = ((noisy - x) ** 2).mean().item()
    assert losses.noise_stability_loss(x, noisy).item() == pytest.approx(expected)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "vgg16.pth"
    torch.save(random_vgg16_state_dict(1), path)
    return path


def test_vgg_loader_maps_torchvision_layout(vgg_file):
    state = torch.load(vgg_file, weights_only=True)
    vgg = load_vgg16(vgg_file)
    x = torch.rand(1, 3, 16, 16)
    feats = vgg(x)
    assert set(feats) == set(TAPS) and feats["relu4_3"].shape == (1, 512, 2, 2)
    # relu1_2 by hand from the file's tensors, with ImageNet normalisation
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = F.relu(F.conv2d((x - mean) / std, state["features.0.weight"], state["features.0.bias"], padding=1))
    h = F.relu(F.conv2d(h, state["features.2.weight"], state["features.2.bias"], padding=1))
    assert torch.allclose(feats["relu1_2"], h, atol=1e-5)


def test_vgg_missing_or_wrong_file_says_how_to_get_it(tmp_path):
    with pytest.raises(VstError, match="torchvision"):
        load_vgg16(None)
    with pytest.raises(VstError, match="does not exist.*torchvision"):
        load_vgg16(tmp_path / "nope.pth")
    bad = random_vgg16_state_dict(1)
    bad["features.2.weight"] = torch.zeros(64, 64, 1, 1)  # e.g. another network's layout
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(VstError, match="do not fit VGG16"):
        load_vgg16(tmp_path / "bad.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(VstError, match="lacks"):
        load_vgg16(tmp_path / "partial.pth")

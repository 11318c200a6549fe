"""VGG16 feature extractor for the perceptual losses of 000 eq. 1, loaded from a torchvision-layout state_dict.

No torchvision here and no download: the user gives the weights file. The layer indices match torchvision's
`vgg16().features`, so `torch.save(torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict(), path)` works.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vst.common.errors import VstError

# torchvision's VGG16 "D" configuration: channels, "M" = 2x2 max pool.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# index in `features` of the ReLU after each named conv (same numbering as torchvision)
TAPS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # 000 section III.B
CONTENT_LAYER = "relu2_2"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

HOW_TO_GET = ("VGG16 weights are not bundled (no download here). On a machine with torchvision run: "
              "python -c \"import torch, torchvision; torch.save(torchvision.models.vgg16(weights='IMAGENET1K_V1')"
              ".state_dict(), 'vgg16.pth')\" and pass --vgg vgg16.pth; or train without VGG by distillation "
              "(--teacher multistyle26:STYLE)")


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    return nn.Sequential(*layers)


class VGG16Features(nn.Module):
    """Frozen VGG16 up to relu4_3; input RGB NCHW in [0, 1], ImageNet-normalised inside."""

    def __init__(self):
        super().__init__()
        # only the layers up to the deepest tap are needed; keep torchvision's indices for loading
        self.features = _features()[: max(TAPS.values()) + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers=STYLE_LAYERS) -> dict[str, torch.Tensor]:
        want = {TAPS[name]: name for name in layers}
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in want:
                out[want[i]] = h
                if len(out) == len(want):
                    break
        return out


def load_vgg16(path: str | Path | None) -> VGG16Features:
    """VGG16 features from a torchvision-layout state_dict file (.pth/.pt via weights_only, or .safetensors)."""
    if path is None:
        raise VstError(f"perceptual training needs VGG16 weights. {HOW_TO_GET}")
    path = Path(path)
    if not path.is_file():
        raise VstError(f"VGG16 weights file {path} does not exist. {HOW_TO_GET}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is a user error here
        raise VstError(f"cannot read VGG16 weights {path} ({str(exc).splitlines()[0][:120]}). {HOW_TO_GET}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise VstError(f"{path} is not a state_dict. {HOW_TO_GET}")
    model = VGG16Features()
    wanted = {f"features.{k}" for k in model.features.state_dict()}
    missing = sorted(wanted - set(state), key=lambda k: int(k.split(".")[1]))
    if missing:
        raise VstError(f"{path} lacks {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}: not a torchvision "
                       f"vgg16 state_dict. {HOW_TO_GET}")
    sub = {k[len("features."):]: state[k].float() for k in wanted}
    try:
        model.features.load_state_dict(sub, strict=True)
    except RuntimeError as exc:
        raise VstError(f"{path}: weights do not fit VGG16 ({str(exc).splitlines()[0][:160]}); "
                       f"is it vgg16 (not vgg19 or vgg16_bn)? {HOW_TO_GET}") from None
    return model.eval()


def random_vgg16_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout vgg16 state_dict with He-initialised random weights: exercises the perceptual path
    (loading, losses, training loop) where no pretrained weights can be had; useless for real stylization."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    cin, idx = 3, 0
    for v in VGG16_CFG:
        if v == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(v, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"features.{idx}.bias"] = torch.randn(v, generator=g) * 0.01
        cin, idx = v, idx + 2
    state["classifier.0.weight"] = torch.zeros(8, 8)  # torchvision files carry the classifier; the loader ignores it
    return state

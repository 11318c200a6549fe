"""VGG16 / VGG19 feature extractors for the perceptual losses, loaded from torchvision-layout state_dicts.

No torchvision here and no download: the user gives the weights file. The layer indices match torchvision's
`vgg16().features` / `vgg19().features`, so
`torch.save(torchvision.models.vgg19(weights="IMAGENET1K_V1").state_dict(), path)` works.
000 and Johnson use VGG16; 001 (Huang), Gatys and 003 use VGG19.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vst.common.errors import VstError

# torchvision's configurations "D" (VGG16) and "E" (VGG19): channels, "M" = 2x2 max pool.
VGG_CFGS = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}
VGG16_CFG = VGG_CFGS["vgg16"]


def relu_taps(cfg) -> dict[str, int]:
    """'reluB_K' -> index in `features` of the ReLU after conv K of block B (torchvision's numbering)."""
    taps, block, conv, idx = {}, 1, 0, 0
    for v in cfg:
        if v == "M":
            block, conv, idx = block + 1, 0, idx + 1
        else:
            conv += 1
            taps[f"relu{block}_{conv}"] = idx + 1
            idx += 2
    return taps


NET_TAPS = {name: relu_taps(cfg) for name, cfg in VGG_CFGS.items()}
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # 000 section III.B
TAPS = {name: NET_TAPS["vgg16"][name] for name in STYLE_LAYERS}
CONTENT_LAYER = "relu2_2"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def how_to_get(net: str = "vgg16") -> str:
    return (f"{net.upper()} weights are not bundled (no download here). On a machine with torchvision run: "
            f"python -c \"import torch, torchvision; torch.save(torchvision.models.{net}(weights='IMAGENET1K_V1')"
            f".state_dict(), '{net}.pth')\" and pass --vgg {net}.pth; or train without VGG by distillation "
            "(--teacher multistyle26:STYLE)")


HOW_TO_GET = how_to_get("vgg16")


def _features(cfg) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    return nn.Sequential(*layers)


def check_layers(net: str, layers) -> None:
    if net not in VGG_CFGS:
        raise VstError(f"loss network must be one of {sorted(VGG_CFGS)}, not {net!r}")
    bad = [name for name in layers if name not in NET_TAPS[net]]
    if bad:
        raise VstError(f"{net} has no layer {', '.join(map(repr, bad))}; it has {', '.join(NET_TAPS[net])}")


class VGGFeatures(nn.Module):
    """Frozen VGG16/19 up to the deepest layer needed; input RGB NCHW in [0, 1], ImageNet-normalised inside."""

    def __init__(self, net: str = "vgg16", layers=None):
        super().__init__()
        check_layers(net, layers or ())
        self.net = net
        self.taps = NET_TAPS[net]
        deepest = max(self.taps[n] for n in (layers or STYLE_LAYERS))
        # only the layers up to the deepest tap are needed; keep torchvision's indices for loading
        self.features = _features(VGG_CFGS[net])[: deepest + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers=STYLE_LAYERS) -> dict[str, torch.Tensor]:
        want = {self.taps[name]: name for name in layers}
        out: dict[str, torch.Tensor] = {}
        h = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in want:
                out[want[i]] = h
                if len(out) == len(want):
                    break
        return out


VGG16Features = VGGFeatures


def load_vgg(path: str | Path | None, net: str = "vgg16", layers=None) -> VGGFeatures:
    """VGG features from a torchvision-layout state_dict file (.pth/.pt via weights_only, or .safetensors)."""
    hint = how_to_get(net)
    check_layers(net, layers or ())
    if path is None:
        raise VstError(f"perceptual losses need {net.upper()} weights. {hint}")
    path = Path(path)
    if not path.is_file():
        raise VstError(f"{net.upper()} weights file {path} does not exist. {hint}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is a user error here
        raise VstError(f"cannot read {net.upper()} weights {path} ({str(exc).splitlines()[0][:120]}). "
                       f"{hint}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise VstError(f"{path} is not a state_dict. {hint}")
    model = VGGFeatures(net, layers)
    wanted = {f"features.{k}" for k in model.features.state_dict()}
    missing = sorted(wanted - set(state), key=lambda k: int(k.split(".")[1]))
    if missing:
        raise VstError(f"{path} lacks {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}: not a torchvision "
                       f"{net} state_dict. {hint}")
    sub = {k[len("features."):]: state[k].float() for k in wanted}
    try:
        model.features.load_state_dict(sub, strict=True)
    except RuntimeError as exc:
        other = "vgg19" if net == "vgg16" else "vgg16"
        raise VstError(f"{path}: weights do not fit {net.upper()} ({str(exc).splitlines()[0][:160]}); "
                       f"is it {net} (not {other} or {net}_bn)? {hint}") from None
    # a vgg16 file passes a vgg19 load up to relu3_3 (same shapes); the layer count tells them apart
    convs = {int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")}
    n_convs = sum(1 for v in VGG_CFGS[net] if v != "M")
    if convs and len(convs) != n_convs:
        raise VstError(f"{path} has {len(convs)} conv layers, {net} has {n_convs}: pass the matching loss network "
                       f"(--loss-net vgg16|vgg19) or the right file. {hint}")
    return model.eval()


def load_vgg16(path: str | Path | None) -> VGGFeatures:
    return load_vgg(path, "vgg16")


def random_vgg_state_dict(net: str = "vgg16", seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout vgg16/vgg19 state_dict with He-initialised random weights: exercises the perceptual
    path (loading, losses, training, optimisation) where no pretrained weights can be had; useless for real
    stylization."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    cin, idx = 3, 0
    for v in VGG_CFGS[net]:
        if v == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(v, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"features.{idx}.bias"] = torch.randn(v, generator=g) * 0.01
        cin, idx = v, idx + 2
    state["classifier.0.weight"] = torch.zeros(8, 8)  # torchvision files carry the classifier; the loader ignores it
    return state


def random_vgg16_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    return random_vgg_state_dict("vgg16", seed)

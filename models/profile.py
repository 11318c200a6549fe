"""Parameters, multiply-accumulates and fp32 size of a stylizer, counted from its modules."""
from __future__ import annotations

import copy

import torch
from torch import nn

MIB = 2 ** 20
# the two input sizes 000 measured every configuration at
PAPER_RESOLUTIONS = ((480, 320), (320, 240))
_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def fp32_size_mb(model: nn.Module) -> float:
    """Weights alone at 4 bytes each, in MiB (the unit 000's Table II sizes are in)."""
    return count_params(model) * 4 / MIB


def _round_up(channels: int, group: int) -> int:
    return -(-channels // group) * group


def count_macs(model: nn.Module, width: int, height: int, channel_group: int = 1) -> int:
    """Convolution multiply-accumulates for one WxH frame (norms, pads and activations are not counted).

    channel_group > 1 counts every convolution as if its input and output channels were rounded up to that
    multiple: the work a vector unit does when it processes channels in groups of that size."""
    total = 0
    g = channel_group

    def conv_hook(mod, inputs, output):
        nonlocal total
        kernel_elems = mod.weight.shape[2] * mod.weight.shape[3]
        cin, cout = mod.in_channels // mod.groups, mod.out_channels // mod.groups
        if isinstance(mod, nn.ConvTranspose2d):
            # each input element is scattered to out_channels/groups * k*k outputs
            pixels = inputs[0].numel() // mod.in_channels
            total += pixels * _round_up(mod.in_channels, g) * _round_up(cout, g) * kernel_elems
        else:
            pixels = output.numel() // mod.out_channels
            total += pixels * _round_up(mod.out_channels, g) * _round_up(cin, g) * kernel_elems

    # a meta copy carries shapes only, so counting costs no arithmetic
    meta_model = copy.deepcopy(model).to("meta")
    hooks = [m.register_forward_hook(conv_hook) for m in meta_model.modules() if isinstance(m, _CONVS)]
    with torch.no_grad():
        meta_model(torch.empty(1, 3, height, width, device="meta"))
    for h in hooks:
        h.remove()
    return total


def zoo_table(names=None):
    """One row per named configuration (all by default): arch, config, params, fp32 size and GMACs at the paper's
    resolutions, as a pandas DataFrame: `vst-zoo list` prints it, the report sets it beside Table II."""
    import pandas as pd
    from vst.models.registry import NAMED_CONFIGS, create_model
    rows = []
    for name in names or NAMED_CONFIGS:
        arch, config = NAMED_CONFIGS[name]
        model = create_model(name)
        row = {"name": name, "arch": arch, "config": " ".join(f"{k}={v}" for k, v in config.items()),
               "params": count_params(model), "size_mb": round(fp32_size_mb(model), 3)}
        for w, h in PAPER_RESOLUTIONS:
            row[f"gmacs_{w}x{h}"] = round(count_macs(model, w, h) / 1e9, 3)
        rows.append(row)
    return pd.DataFrame(rows)

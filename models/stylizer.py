"""One feed-forward stylizer network, parameterised by a StylizerSpec (configurations are data)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vst.common.errors import VstError
from vst.models.layers import UPSAMPLERS, ConvBlock, ReflectConv, ResidualBlock

# Two stride-2 convolutions: height and width must divide by 4 to map back to the input size.
SIZE_MULTIPLE = 4
# The deepest feature map must be wider than the 3x3 reflection pad (2 px at 1/4 scale).
MIN_SIDE = 8


@dataclass(frozen=True)
class StylizerSpec:
    encoder: tuple[int, int, int]     # channels of the stride-1, stride-2, stride-2 convolutions
    decoder: tuple[int, int]          # channels of the two upsampling blocks
    n_res: int                        # residual blocks at 1/4 resolution
    outer_kernel: int                 # first and last convolution
    kernel: int = 3                   # every other convolution
    upsample: str = "nearest"         # "nearest" (upsample + conv) or "deconv" (transposed conv)
    out_act: str = "none"             # "none" or "tanh" (mapped to [0, 1])
    in_range: str = "01"              # "01" or "pm1": the network sees 2x - 1 (ReCoNet's [-1, 1] input)
    res_relu: bool = False            # ReLU after each residual skip addition (ReCoNet, 004 Fig. 47)

    def __post_init__(self):
        if self.upsample not in UPSAMPLERS:
            raise VstError(f"upsample must be one of {sorted(UPSAMPLERS)}, not {self.upsample!r}")
        if self.in_range not in ("01", "pm1"):
            raise VstError(f"in_range must be '01' or 'pm1', not {self.in_range!r}")
        if self.out_act not in ("none", "tanh"):
            raise VstError(f"out_act must be 'none' or 'tanh', not {self.out_act!r}")
        if min(self.encoder + self.decoder) < 1 or self.n_res < 0:
            raise VstError(f"channel counts must be >= 1 and n_res >= 0, got {self}")


def nearest_valid_sizes(side: int) -> list[int]:
    lo = max(MIN_SIDE, side - side % SIZE_MULTIPLE)
    hi = max(MIN_SIDE, lo if side % SIZE_MULTIPLE == 0 else lo + SIZE_MULTIPLE)
    return sorted({lo, hi})


def check_input_size(width: int, height: int, arch: str = "stylizer") -> None:
    """Raise a VstError naming the nearest valid sizes when the strides cannot map WxH back to itself."""
    bad = [s for s in (width, height) if s < MIN_SIDE or s % SIZE_MULTIPLE]
    if not bad:
        return
    options = [f"{w}x{h}" for w in nearest_valid_sizes(width) for h in nearest_valid_sizes(height)]
    raise VstError(f"input size {width}x{height} does not fit {arch}: width and height must be multiples of "
                   f"{SIZE_MULTIPLE} and at least {MIN_SIDE}; nearest valid sizes: {', '.join(options)}")


class Stylizer(nn.Module):
    """Encoder (3 conv blocks) -> residual blocks -> decoder (2 upsampling blocks) -> output conv.

    Input and output: RGB, NCHW, float in [0, 1] (an unbounded output for out_act="none", as 000 drops tanh).
    """

    def __init__(self, spec: StylizerSpec, arch: str = "stylizer", config: dict | None = None):
        super().__init__()
        self.spec, self.arch, self.config = spec, arch, dict(config or {})
        c1, c2, c3 = spec.encoder
        d1, d2 = spec.decoder
        up = UPSAMPLERS[spec.upsample]
        self.encoder = nn.Sequential(ConvBlock(3, c1, spec.outer_kernel), ConvBlock(c1, c2, spec.kernel, 2),
                                     ConvBlock(c2, c3, spec.kernel, 2))
        self.residuals = nn.Sequential(*(ResidualBlock(c3, spec.kernel, spec.res_relu) for _ in range(spec.n_res)))
        self.decoder = nn.Sequential(up(c3, d1, spec.kernel), up(d1, d2, spec.kernel))
        self.head = ReflectConv(d2, 3, spec.outer_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            check_input_size(int(x.shape[-1]), int(x.shape[-2]), self.arch)
        y = self.head(self.decoder(self.residuals(self.encoder(self.prepare(x)))))
        if self.spec.out_act == "tanh":
            y = (torch.tanh(y) + 1) * 0.5
        return y

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The [0, 1] input as the first convolution sees it."""
        return x * 2 - 1 if self.spec.in_range == "pm1" else x

    def describe(self) -> dict:
        return {"arch": self.arch, "config": self.config, "spec": asdict(self.spec)}

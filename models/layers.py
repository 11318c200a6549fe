"""Building blocks shared by every stylizer: reflection-padded convolutions, residual blocks, upsamplers."""
from __future__ import annotations

import torch
from torch import nn


class ReflectConv(nn.Sequential):
    """Convolution with reflection padding, so borders carry image content instead of zeros."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))


class ConvBlock(nn.Sequential):
    """Conv + affine instance norm + ReLU (a row of 000's Table I)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__(ReflectConv(cin, cout, kernel, stride),
                         nn.InstanceNorm2d(cout, affine=True), nn.ReLU())


class ResidualBlock(nn.Module):
    """Two 3x3 conv + instance norm layers with an identity skip (000 Fig. 1, Johnson's block); relu_after adds
    a ReLU after the addition (ReCoNet's "Res + InsNorm + ReLU", 004 Fig. 47)."""

    def __init__(self, channels: int, kernel: int = 3, relu_after: bool = False):
        super().__init__()
        self.relu_after = relu_after
        self.body = nn.Sequential(
            ReflectConv(channels, channels, kernel), nn.InstanceNorm2d(channels, affine=True), nn.ReLU(),
            ReflectConv(channels, channels, kernel), nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x):
        y = x + self.body(x)
        return torch.relu(y) if self.relu_after else y


class NearestUpConv(nn.Sequential):
    """x2 nearest upsample, then ConvBlock: avoids the checkerboard of transposed convs (Odena et al.)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvBlock(cin, cout, kernel))


class DeconvBlock(nn.Sequential):
    """Transposed conv (stride 2, kernel 3, padding 1, output_padding 1) + instance norm + ReLU, as published."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__(nn.ConvTranspose2d(cin, cout, kernel, stride=2, padding=kernel // 2, output_padding=1),
                         nn.InstanceNorm2d(cout, affine=True), nn.ReLU())


UPSAMPLERS = {"nearest": NearestUpConv, "deconv": DeconvBlock}

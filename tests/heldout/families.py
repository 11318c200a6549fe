"""A held-out battery: five common image-to-image generator families, written from their published code at small
width, kept back so that nothing in vst is tuned on them (tests/generators.py is the set the converter was
developed against). Each maps NCHW RGB in [0, 1] to the same; weights are random with a fixed seed, norms get
non-trivial statistics, and `export` writes the TorchScript a user would hand to vst-convert.

- pix2pix: Isola et al. 2017, junyanz/pytorch-CycleGAN-and-pix2pix UnetGenerator (4x4 stride-2 convs, LeakyReLU
  0.2, BatchNorm, ReLU + ConvTranspose up, Dropout 0.5 in the inner decoder blocks, skip concats, Tanh).
- cyclegan: Zhu et al. 2017, the same repository's ResnetGenerator (ReflectionPad, InstanceNorm, 2 stride-2
  convs, residual blocks, ConvTranspose with output_padding, Tanh).
- esrgan: Wang et al. 2018, xinntao/ESRGAN RRDBNet (residual-in-residual dense blocks of 5 convs on growing
  concats, LeakyReLU 0.2, residual scaling 0.2, nearest x2 upsampling + conv), made image-to-image at the input
  size by a 2x2 average pool after the HR convs.
- transformer_net: Johnson et al. 2016 as pytorch/examples fast_neural_style writes it (ReflectionPad convs,
  affine InstanceNorm, residual blocks, UpsampleConvLayer = nearest interpolate then conv), on 0-255 pixels.
- animegan2: bryandlee/animegan2-pytorch Generator (ConvNormLReLU with GroupNorm(1, C), inverted residual
  blocks with depthwise convs, one-sided reflection pads before the stride-2 convs, bilinear resizes back to the
  encoder's sizes with align_corners=True, Tanh).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


# --- pix2pix U-Net (UnetSkipConnectionBlock, recursive as in the original) ---------------------------------------
class _UnetBlock(nn.Module):
    def __init__(self, outer: int, inner: int, input_nc: int | None = None, sub: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        input_nc = outer if input_nc is None else input_nc
        # BatchNorm follows every conv but the outermost/innermost downs, so those convs carry no bias
        down = nn.Conv2d(input_nc, inner, 4, stride=2, padding=1, bias=False)
        dnorm, unorm = nn.BatchNorm2d(inner), nn.BatchNorm2d(outer)
        drelu, urelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
            model = [down, sub, urelu, up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=False)
            model = [drelu, down, urelu, up, unorm]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=False)
            model = [drelu, down, dnorm, sub, urelu, up, unorm] + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class Pix2PixUnet(nn.Module):
    """num_downs=5 (the original uses 7 or 8 for 128/256 squares): sizes must divide by 32. The original puts its
    dropout in the extra ngf*8 blocks, which 5 downsamplings do not have; the ngf*8 block here keeps one."""

    def __init__(self, ngf: int = 8, num_downs: int = 5):
        super().__init__()
        block = _UnetBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = _UnetBlock(ngf * 8, ngf * 8, sub=block, dropout=True)
        block = _UnetBlock(ngf * 4, ngf * 8, sub=block, dropout=num_downs <= 5)
        block = _UnetBlock(ngf * 2, ngf * 4, sub=block)
        block = _UnetBlock(ngf, ngf * 2, sub=block)
        self.net = _UnetBlock(3, ngf, input_nc=3, sub=block, outermost=True)

    def forward(self, x):
        return self.net(x * 2 - 1) * 0.5 + 0.5      # the repository normalizes images to [-1, 1]


# --- CycleGAN ResnetGenerator ------------------------------------------------------------------------------------
class _ResnetBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=True), nn.InstanceNorm2d(c),
                                        nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=True),
                                        nn.InstanceNorm2d(c))

    def forward(self, x):
        return x + self.conv_block(x)


class CycleGANResnet(nn.Module):
    def __init__(self, ngf: int = 16, n_blocks: int = 6):
        super().__init__()
        m = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            k = 2 ** i
            m += [nn.Conv2d(ngf * k, ngf * k * 2, 3, stride=2, padding=1), nn.InstanceNorm2d(ngf * k * 2),
                  nn.ReLU(True)]
        m += [_ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            k = 2 ** (2 - i)
            m += [nn.ConvTranspose2d(ngf * k, ngf * k // 2, 3, stride=2, padding=1, output_padding=1),
                  nn.InstanceNorm2d(ngf * k // 2), nn.ReLU(True)]
        m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*m)

    def forward(self, x):
        return self.model(x * 2 - 1) * 0.5 + 0.5


# --- ESRGAN RRDBNet ----------------------------------------------------------------------------------------------
class _ResidualDenseBlock5C(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, True)

    def forward(self, x):
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (_ResidualDenseBlock5C(nf, gc) for _ in range(3))

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class ESRGANRRDB(nn.Module):
    def __init__(self, nf: int = 16, gc: int = 8, nb: int = 2):
        super().__init__()
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.RRDB_trunk = nn.Sequential(*[_RRDB(nf, gc) for _ in range(nb)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, True)

    def forward(self, x):
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.RRDB_trunk(fea))
        fea = self.lrelu(self.upconv1(F.interpolate(fea, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.HRconv(fea)))
        # back to the input size: the battery compares image-to-image generators
        return F.avg_pool2d(out, 2)


# --- fast-neural-style TransformerNet (pytorch/examples) ---------------------------------------------------------
class _ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class _ResidualBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.in1 = _ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = _ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.in2(self.conv2(self.relu(self.in1(self.conv1(x))))) + x


class _UpsampleConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, upsample: int | None = None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(k // 2)
        self.conv2d = nn.Conv2d(cin, cout, k, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    def __init__(self, w: int = 8):
        super().__init__()
        self.conv1, self.in1 = _ConvLayer(3, w, 9, 1), nn.InstanceNorm2d(w, affine=True)
        self.conv2, self.in2 = _ConvLayer(w, 2 * w, 3, 2), nn.InstanceNorm2d(2 * w, affine=True)
        self.conv3, self.in3 = _ConvLayer(2 * w, 4 * w, 3, 2), nn.InstanceNorm2d(4 * w, affine=True)
        self.res = nn.Sequential(*[_ResidualBlock(4 * w) for _ in range(5)])
        self.deconv1, self.in4 = _UpsampleConvLayer(4 * w, 2 * w, 3, 1, upsample=2), nn.InstanceNorm2d(2 * w, affine=True)
        self.deconv2, self.in5 = _UpsampleConvLayer(2 * w, w, 3, 1, upsample=2), nn.InstanceNorm2d(w, affine=True)
        self.deconv3 = _ConvLayer(w, 3, 9, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = x * 255                          # the examples' network works on 0-255 pixels
        y = self.relu(self.in1(self.conv1(y)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y) / 255


# --- AnimeGANv2 generator (animegan2-pytorch) --------------------------------------------------------------------
class _ConvNormLReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, padding=1, groups: int = 1,
                 bias: bool = False):
        super().__init__(nn.ReflectionPad2d(padding),
                         nn.Conv2d(cin, cout, k, stride, 0, groups=groups, bias=bias),
                         nn.GroupNorm(1, cout, affine=True), nn.LeakyReLU(0.2, True))


class _InvertedResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: int = 2):
        super().__init__()
        self.use_res_connect = cin == cout
        b = int(round(cin * expansion))
        self.layers = nn.Sequential(_ConvNormLReLU(cin, b, k=1, padding=0),
                                    _ConvNormLReLU(b, b, groups=b, bias=True),       # depthwise
                                    nn.Conv2d(b, cout, 1, bias=False), nn.GroupNorm(1, cout, affine=True))

    def forward(self, x):
        out = self.layers(x)
        return x + out if self.use_res_connect else out


class AnimeGAN2(nn.Module):
    """w=2: a quarter of the published widths (32, 64, 128, 256 there)."""

    def __init__(self, w: int = 2):
        super().__init__()
        self.block_a = nn.Sequential(_ConvNormLReLU(3, 4 * w, k=7, padding=3),
                                     _ConvNormLReLU(4 * w, 8 * w, stride=2, padding=(0, 1, 0, 1)),
                                     _ConvNormLReLU(8 * w, 8 * w))
        self.block_b = nn.Sequential(_ConvNormLReLU(8 * w, 16 * w, stride=2, padding=(0, 1, 0, 1)),
                                     _ConvNormLReLU(16 * w, 16 * w))
        self.block_c = nn.Sequential(_ConvNormLReLU(16 * w, 16 * w), _InvertedResBlock(16 * w, 32 * w),
                                     *[_InvertedResBlock(32 * w, 32 * w) for _ in range(3)],
                                     _ConvNormLReLU(32 * w, 16 * w))
        self.block_d = nn.Sequential(_ConvNormLReLU(16 * w, 16 * w), _ConvNormLReLU(16 * w, 16 * w))
        self.block_e = nn.Sequential(_ConvNormLReLU(16 * w, 8 * w), _ConvNormLReLU(8 * w, 8 * w),
                                     _ConvNormLReLU(8 * w, 4 * w, k=7, padding=3))
        self.out_layer = nn.Sequential(nn.Conv2d(4 * w, 3, 1, bias=False), nn.Tanh())

    def forward(self, x):
        inp = x * 2 - 1
        out = self.block_a(inp)
        half_size = out.size()[-2:]
        out = self.block_c(self.block_b(out))
        out = F.interpolate(out, half_size, mode="bilinear", align_corners=True)
        out = self.block_d(out)
        out = F.interpolate(out, inp.size()[-2:], mode="bilinear", align_corners=True)
        return self.out_layer(self.block_e(out)) * 0.5 + 0.5


FAMILIES = {"pix2pix_unet": Pix2PixUnet, "cyclegan_resnet": CycleGANResnet, "esrgan_rrdb": ESRGANRRDB,
            "transformer_net": TransformerNet, "animegan2": AnimeGAN2}


def make(name: str, seed: int = 0) -> nn.Module:
    """The family's network with seeded random weights, BatchNorm statistics and affine norms away from identity
    (an untouched norm would hide a converter that drops it), in eval mode (pix2pix's dropout off)."""
    torch.manual_seed(seed)
    m = FAMILIES[name]()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
        if isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and mod.weight is not None:
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    m.eval()
    if name in _LINEAR_HEAD:
        _span_image_range(m, _LINEAR_HEAD[name])
    return m


# families whose last layer is a conv with no squashing after it (an affine map to the output), and the factor
# between that conv's output and the image: their seeded outputs span +-0.007 (TransformerNet's /255) or +-0.09,
# where any error reads as a high PSNR, so the head is rescaled to put the output where a trained one's is
_LINEAR_HEAD = {"esrgan_rrdb": ("conv_last", 1.0), "transformer_net": ("deconv3.conv2d", 1 / 255)}


@torch.no_grad()
def _span_image_range(m: nn.Module, head: tuple[str, float]) -> None:
    """Scale the head conv so that the output has mean 0.5 and standard deviation 0.2 on a seeded input."""
    name, k = head
    conv = m.get_submodule(name)
    y = m(torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1)))
    a = 0.2 / float(y.std())
    conv.weight.mul_(a)
    conv.bias.mul_(a).add_((0.5 - a * float(y.mean())) / k)


def export(name: str, path: str | Path, size: tuple[int, int] = (128, 96), seed: int = 0) -> Path:
    """Trace the family at `size` (W, H) and save it as TorchScript, the form a user brings."""
    w, h = size
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns that instance norm's size check becomes a constant: true, the size is fixed here
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # torch deprecates tracing, but TorchScript is still the form users' published checkpoints come in
        warnings.simplefilter("ignore", DeprecationWarning)
        ts = torch.jit.trace(make(name, seed), torch.rand(1, 3, h, w), check_trace=False)
    ts.save(str(path))
    return Path(path)

"""Four third-party-style image generators, written from their papers' descriptions at toy widths, to test that
vst-convert takes stylizers it did not define. Each maps NCHW RGB in [0, 1] to the same.

- UNet: Ronneberger et al. 2015 (encoder/decoder with skip connections concatenated on channels).
- ResnetGenerator: Zhu et al. 2017 (CycleGAN; c7s1-k, d-k, R-k, u-k with reflection padding, instance norm, tanh).
- SubPixelNet: Shi et al. 2016 (ESPCN; features at low resolution, a conv to C*r^2 channels, PixelShuffle), PReLU.
- MobileNetV3Stylizer: Howard et al. 2019 (inverted residuals, depthwise convs, BatchNorm, hard-swish,
  squeeze-and-excite with hard-sigmoid) as an encoder, bilinear upsampling decoder.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class UNet(nn.Module):
    def __init__(self, w: int = 8):
        super().__init__()
        self.e1 = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.LeakyReLU(0.2))
        self.e2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.e3 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU())
        # ConvTranspose k3 s2 p1 with output_padding 1 doubles the size exactly
        self.u2 = nn.ConvTranspose2d(4 * w, 2 * w, 3, stride=2, padding=1, output_padding=1)
        self.d2 = nn.Sequential(nn.Conv2d(4 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.u1 = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1)
        self.d1 = nn.Sequential(nn.Conv2d(2 * w, w, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(w, 3, 1)

    def forward(self, x):
        s1 = self.e1(x)
        s2 = self.e2(s1)
        y = self.e3(s2)
        y = self.d2(torch.cat([self.u2(y), s2], 1))
        y = self.d1(torch.cat([self.u1(y), s1], 1))
        return torch.sigmoid(self.out(y))


class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    def __init__(self, ngf: int = 8, blocks: int = 2):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU()]
        for m in (1, 2):
            layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, stride=2, padding=1), nn.InstanceNorm2d(ngf * m * 2),
                       nn.ReLU()]
        layers += [_ResBlock(ngf * 4) for _ in range(blocks)]
        for m in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(ngf * m // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x) * 0.5 + 0.5        # tanh's [-1, 1] as an image in [0, 1]


class SubPixelNet(nn.Module):
    def __init__(self, w: int = 16, r: int = 2):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, w, 5, padding=2), nn.PReLU(w),
                                      nn.Conv2d(w, 2 * w, 3, stride=r, padding=1), nn.PReLU(),
                                      nn.Conv2d(2 * w, w, 3, padding=1), nn.PReLU(w))
        self.to_subpixel = nn.Conv2d(w, 3 * r * r, 3, padding=1)
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        return torch.sigmoid(self.shuffle(self.to_subpixel(self.features(x))))


class _SE(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class _InvertedResidual(nn.Module):
    def __init__(self, c: int, expand: int, stride: int = 1, groups: int = 1):
        super().__init__()
        e = c * expand
        self.expand = nn.Sequential(nn.Conv2d(c, e, 1, groups=groups, bias=False), nn.BatchNorm2d(e),
                                    nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(e, e, 3, stride=stride, padding=1, groups=e, bias=False),
                                nn.BatchNorm2d(e), nn.Hardswish())
        self.se = _SE(e)
        self.project = nn.Sequential(nn.Conv2d(e, c, 1, bias=False), nn.BatchNorm2d(c))
        self.residual = stride == 1

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.residual else y


class MobileNetV3Stylizer(nn.Module):
    def __init__(self, c: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                                  nn.Hardswish())
        self.blocks = nn.Sequential(_InvertedResidual(c, 4, groups=2), _InvertedResidual(c, 3, stride=2),
                                    _InvertedResidual(c, 3))
        self.norm = nn.BatchNorm2d(c)          # after an add: stays a BatchNormalization in the ONNX file
        self.dec = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU6(), nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, x):
        y = self.norm(self.blocks(self.stem(x)))
        y = F.interpolate(y, scale_factor=4, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.dec(y))


GENERATORS = {"unet": UNet, "cyclegan_resnet": ResnetGenerator, "espcn_subpixel": SubPixelNet,
              "mobilenetv3": MobileNetV3Stylizer}


def make(name: str, seed: int = 0) -> nn.Module:
    """A generator with deterministic random weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    m = GENERATORS[name]()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
            assert mod.running_mean.numel() == n
    return m.eval()


def style_onnx(path, size=None):
    """A conv net with an image input (of a fixed (W, H) `size`, else free) and a 4-way style_weights input."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.random.rand(3, 3, 3, 3).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("ReduceSum", ["style_weights"], ["s"], keepdims=0),
         helper.make_node("Mul", ["c", "s"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size[1], size[0]] if size else [1, 3, "h", "w"]),
         helper.make_tensor_value_info("style_weights", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def conversion_report(name: str = "kunster-t2-15", arch: str | None = "kunster", config: dict | None = None,
                      width: int = 48, height: int = 32) -> dict:
    """The smallest conversion report its schema accepts (no samples, no temporal QA), as vst-convert would
    write it for zoo model `name`: for readers' tests that need no real conversion."""
    config = {"alpha": 0.25, "beta": 0.25, "variant": "table2"} if config is None else config
    return {
        "schema_version": 1, "target": "onnx", "quant": "fp32", "io_layout": "nchw",
        "source": {"kind": "zoo", "name": name, "arch": arch, "config": config, "random_weights": True},
        "model": {"name": name, "arch": arch, "config": config, "zoo_name": name, "params": 1000,
                  "macs": {f"{width}x{height}": 100000}, "trained": False, "source_sha256": None},
        "size": {"width": width, "height": height},
        "passes": [{"name": "export", "applied": True, "detail": "torch.onnx"}],
        "op_histogram": {"Conv": 3}, "transposes": {"before": 0, "after": 0}, "delegates": {},
        "fidelity": {"psnr_db": 80.0, "max_abs_err": 1e-5, "threshold_psnr_db": 50.0, "passed": None, "images": 2},
        "artifact": {"path": "m.onnx", "bytes": 1234}, "timing": {"conversion_s": 1.5},
        "tool_versions": {"torch": "2.13.0"},
    }

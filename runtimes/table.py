"""Targets, runtimes, delegates and precisions: the one table convert, bench and the device drivers read.

A target is what vst-convert writes; its runtime is what runs it; delegates are per platform, the default first.
"""
from __future__ import annotations

PRECISIONS = ("fp32", "fp16", "int8")
LAYOUTS = ("nhwc", "nchw")

TARGETS = {
    "tflite": {"suffix": ".tflite", "runtime": "litert"},
    "coreml": {"suffix": ".mlpackage", "runtime": "coreml"},
    "onnx": {"suffix": ".onnx", "runtime": "onnxruntime"},
    "executorch": {"suffix": ".pte", "runtime": "executorch"},
    # ExecuTorch with its Core ML delegate: an ExecuTorch program that only Apple's OSes run
    "executorch-coreml": {"suffix": ".pte", "runtime": "executorch"},
    # Core AI (iOS 27): coreai-core runs it on this CPU for the conversion's checks (vst.runtimes.coreai)
    "coreai": {"suffix": ".aimodel", "runtime": "coreai"},
}

# file suffix -> (artifact format, runtime); checkpoints run on PyTorch, compiled Core ML only on a device
FORMATS = {".tflite": ("tflite", "litert"), ".onnx": ("onnx", "onnxruntime"),
           ".safetensors": ("pytorch", "pytorch"), ".pt": ("pytorch", "pytorch"), ".pth": ("pytorch", "pytorch"),
           ".mlpackage": ("mlpackage", "coreml"), ".mlmodelc": ("mlmodelc", "coreml"),
           ".pte": ("pte", "executorch")}

# (platform, runtime) -> delegates it takes, the default first
DELEGATES = {
    # gpu: LiteRT's GPU accelerator, on a software Vulkan GPU where the host has no other (vst.runtimes.gpu)
    ("host", "litert"): ("xnnpack", "none", "gpu"),
    ("host", "onnxruntime"): ("cpu",),
    ("host", "pytorch"): ("eager",),
    ("host", "executorch"): ("xnnpack",),
    # the apps run .tflite through vst's C backend on LiteRT 2.x's CompiledModel (the Linux runners' code),
    # which has CPU (XNNPACK) and GPU accelerators; NNAPI is not among them (and deprecated since Android 15)
    ("android", "litert"): ("xnnpack", "gpu"),
    ("ios", "coreml"): ("all", "cpuAndGPU", "cpuOnly", "cpuAndNeuralEngine"),
    ("ios", "litert"): ("xnnpack", "gpu"),
}


def runtimes_on(platform: str) -> set[str]:
    return {rt for (plat, rt) in DELEGATES if plat == platform}

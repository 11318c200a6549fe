"""ExecuTorch programs (.pte) with the Core ML delegate (ExecuTorch's CoreMLPartitioner and CoreMLBackend, which
build the delegated part with coremltools), lowered by torch.export from vst's IR. Core ML takes instance norm,
reflection padding and nearest upsampling as they are (rules/coreml.json), so the IR gets Core ML's rewrites, not
XNNPACK's, and without the channels-last hint XNNPACK's lowering gets: the Core ML partitioner refuses a
non-contiguous dim order. Linux has no Core ML runtime and ExecuTorch's Core ML backend runs on macOS and iOS only:
the program's structure (ExecuTorch's own delegation summary) is checked here, and the IR it was lowered from
against the reference."""
from __future__ import annotations

import torch

from vst.common.errors import VstError
from vst.convert import coreml, pte, verify
from vst.convert.passes import PassResult
from vst.convert.targets.base import Conversion, Emitted, Target, register

BACKEND = "ExecuTorch's Core ML backend (CoreMLPartitioner, CoreMLBackend)"
# coremltools' OpLinearQuantizerConfig, as --to coreml --quant int8 sets it
WEIGHTS_INT8 = {"mode": "linear_symmetric", "dtype": "int8"}
RUNS_ON = "structure only: runs on macOS/iOS (ExecuTorch's Core ML backend has no Linux runtime)"


@register
class ExecuTorchCoreMLTarget(Target):
    name = "executorch-coreml"
    file_tag = "-coreml"
    rewrite_note = ("ExecuTorch's Core ML delegate takes instance norm, reflection padding and nearest upsampling "
                    "as they are (rules/coreml.json); XNNPACK's rewrites would only add ops")
    runs_here = False

    def emit(self, c: Conversion) -> Emitted:
        if c.front.kept_all:
            raise VstError("--keep-input is not done for --to executorch-coreml: bind the input (--bind NAME=VALUE)")
        import coremltools as ct
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner
        module = pte.GraphModule(c.graph, channels_last_hint=False)
        module = module if c.io_layout == "nchw" else pte.NHWCIO(module)
        example = torch.from_numpy(verify.to_layout(c.images[:1], c.io_layout))
        # ExecuTorch's Core ML backend computes in float16 unless told otherwise: --quant says which. int8 is
        # what --to coreml makes of it: int8 weights by coremltools' linear_quantize_weights (the backend applies
        # it to the Core ML model it builds), float16 compute
        precision = ct.precision.FLOAT32 if c.quant == "fp32" else ct.precision.FLOAT16
        partitioner = CoreMLPartitioner(compile_specs=CoreMLBackend.generate_compile_specs(
            compute_precision=precision, op_linear_quantizer_config=WEIGHTS_INT8 if c.quant == "int8" else None))
        with coreml.quiet():        # coremltools' progress bars and the partitioner's INFO lines
            lowered = pte.lower(pte.export(module, example), partitioner)
        d = lowered.delegation
        permutes = lowered.op_histogram.get("aten_permute_copy_default", 0)
        c.passes.append(PassResult("layout", c.io_layout == "nhwc",
                                   f"torch.export of vst's IR, lowered by ExecuTorch with the Core ML partitioner: "
                                   f"{d['subgraphs']} delegated subgraph(s), {d['delegated_nodes']} nodes inside, "
                                   f"{d['compute_nodes_outside']} compute node(s) outside; I/O {c.io_layout}"))
        c.passes.append(PassResult("quantize", c.quant != "fp32", coreml.QUANT_DETAIL[c.quant]))
        fid = verify.not_measured(len(c.images), c.quant, c.ref_kind,
                                  f"{RUNS_ON}; the IR the program was lowered from matches the reference "
                                  + verify.ir_agreement(c.ref_out, c.graph, c.images))
        c.passes.append(PassResult("verify", True, f"structure: {d['subgraphs']} Core ML subgraph(s), "
                                                   f"{d['compute_nodes_outside']} compute node(s) outside; numeric: "
                                                   "macOS/iOS only"))
        record = {"lowered_from": "vst's IR (its PyTorch reference executor)", "delegation": d,
                  "backend": BACKEND, "compute_precision": precision.value, "runtime": RUNS_ON}
        return Emitted(lowered.data, {"op_histogram": lowered.op_histogram,
                                      "transposes": {"before": None, "after": permutes},
                                      "delegates": {"coreml": pte.delegate_verdict(d, "Core ML")},
                                      "fidelity": fid, "executorch": record}, None)

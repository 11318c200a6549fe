"""ExecuTorch programs (.pte) with the XNNPACK delegate, lowered by torch.export from vst's rewritten IR (run by its
PyTorch reference executor): the same proven rewrites that make TFLite one XNNPACK partition make the whole network
one delegated subgraph with no compute node left to portable kernels, its convolutions included (output parities,
space-to-depth, sub-pixel upsampling). A PyTorch source the IR import refuses is lowered from the module itself, with
the exact module-level rewrites of vst.convert.torch_rewrites. fp32, or int8 through ExecuTorch's XNNPACK quantizer
(static, calibrated; or --dynamic). Checked on this machine through ExecuTorch's runtime."""
from __future__ import annotations

import numpy as np
import torch

from vst.common.errors import VstError
from vst.convert import pte, torch_rewrites, verify
from vst.convert.passes import PassResult
from vst.convert.targets.base import Conversion, Emitted, Target, register
from vst.convert.verify import THREADS

QUANT_DETAIL = {
    "fp32": "float32 kept",
    "int8": "int8 by ExecuTorch's XNNPACK quantizer (PT2E, symmetric, per-channel weights): activation ranges "
            "calibrated on {n} real images",
    "int8-dynamic": "dynamic int8 by ExecuTorch's XNNPACK quantizer (PT2E, per-channel int8 weights): activations "
                    "quantized per frame at run time, no calibration",
}


@register
class ExecuTorchTarget(Target):
    name = "executorch"
    rewrite_note = ("ExecuTorch's XNNPACK delegate takes a mean over height and width as it is (TFLite's MEAN "
                    "workaround: split by rows, a mean over one axis leaves the delegate), and its int8 adds were not "
                    "measured to need the depthwise shift")

    def emit(self, c: Conversion) -> Emitted:
        """From the rewritten IR: the graph the rewrite proofs ran on, as a module (int8 static and dynamic too:
        pte.GraphModule hands each space-to-depth to ExecuTorch channels-last, without which 1.5.1's XNNPACK
        lowering of a dynamically quantized conv after it fails to run)."""
        return _emit(c, pte.GraphModule(c.graph), "vst's rewritten IR (its PyTorch reference executor)", None)

    def refused_import_note(self, src, refusal: str) -> str | None:
        if src.module is None:
            return None
        return (f"IR import refused ({refusal}); lowering the PyTorch module itself, with the module-level rewrites "
                "(executorch.torch_rewrites)")

    def emit_refused(self, c: Conversion) -> Emitted:
        """A PyTorch source the IR refused: its module, rewritten at the module level (each rewrite proven)."""
        return _from_module(c, c.front.refusal)


def _from_module(c: Conversion, why: str) -> Emitted:
    """The source's own module, rewritten at the module level (vst.convert.torch_rewrites, each rewrite proven),
    lowered; `why` the IR was not used."""
    src = c.front.src
    if src.module is None:
        raise VstError(f"{why}, and {src.name} is an ONNX file: --to executorch takes it from the IR only; convert "
                       "the PyTorch model it was made from")
    if isinstance(src.module, torch.jit.ScriptModule):
        raise VstError(f"{why}, and {src.name} is TorchScript, which torch.export cannot trace: give the vst "
                       "checkpoint or an ExportedProgram (torch.export.save) of the model")
    rewritten = torch_rewrites.rewrite(src.module, c.images)
    return _emit(c, rewritten.module, f"the PyTorch module with module-level rewrites ({why})", rewritten.record())


def _emit(c: Conversion, module: torch.nn.Module, lowered_from: str, torch_rewrites_done: list | None) -> Emitted:
    quant, io_layout = c.quant, c.io_layout
    _check(c)
    module = module if io_layout == "nchw" else pte.NHWCIO(module, channels_last_hint=True)
    feed = verify.to_layout(c.images, io_layout)
    example = torch.from_numpy(feed[:1])
    convs = None
    if quant == "int8":
        program, convs = pte.quantize(module, example, verify.to_layout(c.calib_batch, io_layout), c.dynamic)
    else:
        program = pte.export(module, example)
    lowered = pte.lower(program, graph_passes=True)
    d = lowered.delegation
    permutes = lowered.op_histogram.get("aten_permute_copy_default", 0)
    c.passes.append(PassResult("layout", io_layout == "nhwc",
                               f"torch.export of {lowered_from}, lowered by ExecuTorch with the XNNPACK partitioner: "
                               f"{d['subgraphs']} delegated subgraph(s), {d['delegated_nodes']} nodes inside, "
                               f"{d['compute_nodes_outside']} compute node(s) outside; I/O {io_layout}"
                               + (" (a permute at each end, inside the delegate)" if io_layout == "nhwc" else "")))
    method = "int8-dynamic" if quant == "int8" and c.dynamic else quant
    n = len(c.calib_batch) if c.calib_batch is not None else 0
    c.passes.append(PassResult("quantize", quant != "fp32", QUANT_DETAIL[method].format(n=n)))
    from vst.runtimes.executorch import ExecuTorchSession
    session = ExecuTorchSession(lowered.data, threads=THREADS)
    got = verify.from_layout(np.concatenate([session.run(feed[i:i + 1]) for i in range(len(feed))]), io_layout)
    fid = verify.fidelity(c.ref_out, got, quant, c.ref_kind)
    c.passes.append(PassResult("verify", True, f"ExecuTorch (XNNPACK, {THREADS} threads) vs {c.ref_kind} on "
                                               f"{len(c.images)} photos: PSNR {fid['psnr_db']} dB (threshold "
                                               f"{fid['threshold_psnr_db']})"))
    record = {"lowered_from": lowered_from, "delegation": d, "runtime": f"executorch {session.version}",
              "xnnpack_graph_passes": lowered.graph_passes}
    if torch_rewrites_done is not None:
        record["torch_rewrites"] = torch_rewrites_done
    extra = {}
    if quant == "int8":
        record["quantization"] = {"method": method, "quantizer": "XNNPACKQuantizer",
                                  "calibration_images": 0 if c.dynamic else n, "per_conv": convs}
    if c.dynamic:   # the record every reader keys int8-dynamic on (vst.common.records.precision)
        extra["quantization"] = {"dynamic": {
            "method": "ExecuTorch XNNPACKQuantizer, is_dynamic=True", "conv_ops": len(convs),
            "int8_weight_ops": sum(r["precision"] == "int8-weights" for r in convs), "per_op": convs}}
    return Emitted(lowered.data, {**extra, "op_histogram": lowered.op_histogram,
                                  "transposes": {"before": None, "after": permutes},
                                  "delegates": {"xnnpack": pte.delegate_verdict(d)}, "fidelity": fid,
                                  "executorch": record}, got)


def _check(c: Conversion) -> None:
    """What ExecuTorch's path here cannot take, each refused in one line naming the fix."""
    if c.quant == "fp16":
        raise VstError("--to executorch makes fp32 or int8 programs (XNNPACK's own fp16 path is not built here); "
                       "use --quant fp32 or --quant int8")
    if c.front.kept_all:
        raise VstError("--keep-input is not done for --to executorch: bind the input (--bind NAME=VALUE)")

"""Core AI assets (.aimodel; iOS 27 and macOS 27), converted by coreai-torch (an optional extra) from vst's IR run as
a torch module, as the ExecuTorch targets lower it. Decomposed with coreai-torch's own table, which keeps instance
norm, reflection padding and nearest upsampling whole (torch's default table turns instance norm into
_native_batch_norm_legit.no_stats, which coreai-torch 0.4.3 refuses), so no rewrite is needed. Verified on this
machine: coreai-core runs the asset on the CPU (vst.runtimes.coreai says how)."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import torch

from vst.common.errors import VstError, first_line
from vst.common.fsutil import write_folder
from vst.convert import pte, verify
from vst.convert.passes import PassResult
from vst.convert.targets.base import Conversion, Emitted, Target, register
from vst.runtimes import coreai as runtime

INPUT, OUTPUT = "image", "stylized"


@register
class CoreAITarget(Target):
    name = "coreai"
    rewrite_note = ("coreai-torch takes instance norm, reflection padding and nearest upsampling whole through its "
                    "own decomposition table")
    package = ("Core AI asset", ("metadata.json", "main.mlirb", "main.hash"))

    def emit(self, c: Conversion) -> Emitted:
        _check(c)
        versions = runtime.require()
        module = pte.GraphModule(c.graph, channels_last_hint=False)
        module = module if c.io_layout == "nchw" else pte.NHWCIO(module)
        feed = verify.to_layout(c.images, c.io_layout)
        program = _convert(module, torch.from_numpy(feed[:1]))
        c.passes.append(PassResult("layout", c.io_layout == "nhwc",
                                   f"torch.export of vst's IR, decomposed with coreai-torch's table, converted by "
                                   f"coreai-torch {versions['coreai-torch']}; I/O {c.io_layout} tensors"
                                   + (" (a transpose at each end)" if c.io_layout == "nhwc" else "")))
        c.passes.append(PassResult("quantize", False, "float32 kept"))
        with tempfile.TemporaryDirectory() as tmp:
            asset = Path(tmp) / "check.aimodel"
            program.save_asset(asset)
            held = runtime.summary(asset)
            got = verify.from_layout(runtime.run(asset, feed), c.io_layout)
        fid = verify.fidelity(c.ref_out, got, c.quant, c.ref_kind)
        c.passes.append(PassResult("verify", True, f"Core AI (coreai-core {versions['coreai-core']}, universal "
                                                   f"program on this CPU) vs {c.ref_kind} on {len(c.images)} "
                                                   f"photos: PSNR {fid['psnr_db']} dB (threshold "
                                                   f"{fid['threshold_psnr_db']})"))
        record = {"converted_by": f"coreai-torch {versions['coreai-torch']}", "minimum_os": "iOS 27 / macOS 27",
                  "compatibility_version": held.pop("compatibility_version"), **held,
                  "io": {"input": INPUT, "output": OUTPUT},
                  "runtime": (f"coreai-core {versions['coreai-core']} on this CPU: the asset's program lowered to a "
                              "universal ODIX program (AIModelAsset.executable); a device specializes it itself")}
        ops = record.pop("op_histogram")
        return Emitted(lambda out: write_folder(out, program.save_asset, ".aimodel"),
                       {"op_histogram": ops, "transposes": {"before": None, "after": ops.get("transpose", 0)},
                        "delegates": {}, "fidelity": fid, "coreai": record}, got)

    def artifact_inputs(self, inputs: list[dict], c: Conversion) -> list[dict]:
        return [dict(i, artifact_name=INPUT) if i["role"] == "image" else i for i in inputs]

    def temporal_runner(self, c: Conversion, out: Path):
        # vst's runtime sessions do not open .aimodel assets: the QA runs the written asset here
        return lambda x: torch.from_numpy(verify.from_layout(
            runtime.run(out, verify.to_layout(x.numpy(), c.io_layout)), c.io_layout))


def _convert(module: torch.nn.Module, example: torch.Tensor):
    """The module as a Core AI program (coreai.authoring.AIProgram)."""
    coreai_torch = runtime.quiet_import()
    program = pte.export(module, example).run_decompositions(coreai_torch.get_decomp_table())
    converter = coreai_torch.TorchConverter(mode=coreai_torch.TorchConverter.Mode.RELEASE)  # no stack traces
    try:
        # its progress display writes to stdout, as the console's output does: kept out of it
        with contextlib.redirect_stdout(io.StringIO()):
            return converter.add_exported_program(program, input_names=[INPUT], output_names=[OUTPUT]).to_coreai()
    except Exception as exc:  # coreai-torch raises ValueError/RuntimeError for ops it has no lowering of
        raise VstError(f"coreai-torch could not convert the model ({first_line(exc, 200)})") from None


def _check(c: Conversion) -> None:
    """What the Core AI path here cannot take, each refused in one line naming the fix."""
    if c.quant != "fp32":
        raise VstError("--to coreai makes float32 assets (coreai-torch's compression is not wired here); use "
                       "--quant fp32")
    if c.front.kept_all:
        raise VstError("--keep-input is not done for --to coreai: bind the input (--bind NAME=VALUE)")


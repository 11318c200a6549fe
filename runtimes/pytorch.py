"""PyTorch (eager) on this machine: a module, or any torch form vst.models.resolver knows (vst checkpoint, shipped
tag, TorchScript, ExportedProgram, zoo name with random weights)."""
from __future__ import annotations

import numpy as np

from vst.common.errors import VstError
from vst.models.resolver import TORCH_FORMS
from vst.runtimes.delegation import Delegation
from vst.runtimes.spec import TensorSpec, image_spec


class TorchSession:
    runtime = "pytorch"

    def __init__(self, model, threads: int | None = None, trust_pickle: bool = False):
        import torch
        from vst.models.resolver import ModelHandle, resolve_model
        if threads:
            torch.set_num_threads(threads)
        self.input = TensorSpec("x", "NCHW", None, "float32")
        if isinstance(model, torch.nn.Module):
            self.model = model
            try:
                model.eval()
            except NotImplementedError:
                pass  # an ExportedProgram's module is fixed in inference form and refuses eval()
        else:
            handle = model if isinstance(model, ModelHandle) else resolve_model(model, trust_pickle=trust_pickle)
            if handle.form not in TORCH_FORMS:
                raise VstError(f"{handle.label} is {handle.what}; PyTorch runs torch models (checkpoint, "
                               "TorchScript, .pt2, zoo name)")
            self.model = handle.module()
            if handle.form == "exported_program":
                self.input = exported_input_spec(handle)
        self.torch = torch
        self.output_quant = (0.0, 0)
        self.version = torch.__version__
        self.delegation = Delegation("pytorch", "eager", detail=f"eager ({torch.get_num_threads()} threads)")

    def extra_inputs(self) -> dict:
        return {}

    def run(self, x, feeds: dict | None = None) -> np.ndarray:
        if feeds:
            raise VstError(f"a PyTorch model takes one image input; it has no {', '.join(feeds)} input")
        with self.torch.inference_mode():
            t = x if isinstance(x, self.torch.Tensor) else self.torch.from_numpy(np.ascontiguousarray(x))
            y = self.model(t)
            if not isinstance(y, self.torch.Tensor):
                raise VstError(f"the model gives {type(y).__name__} outputs, not one image tensor; give a stylizer "
                               "with a single output")
            return y.numpy()

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate([self.run(b[None]) for b in batch])


def exported_input_spec(handle) -> TensorSpec:
    """An ExportedProgram's image input spec (layout, and size when exported at one)."""
    ep, path = handle.exported_program(), handle.path
    user = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    if len(user) != 1:
        raise VstError(f"{path} takes {len(user)} inputs; a stylizer takes one image batch")
    val = user[0].meta.get("val")
    shape = [d if isinstance(d, int) else None for d in getattr(val, "shape", ())]
    return image_spec(user[0].name, shape, "float32", str(path))

"""PyTorch (eager) on this machine: a module, a vst checkpoint, an ExportedProgram (.pt2) or a zoo name with
random weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vst.common.errors import VstError
from vst.runtimes.delegation import Delegation
from vst.runtimes.spec import TensorSpec, image_spec


class TorchSession:
    runtime = "pytorch"

    def __init__(self, model, threads: int | None = None, trust_pickle: bool = False):
        import torch
        from vst.models import create_model, load_model
        if threads:
            torch.set_num_threads(threads)
        self.input = TensorSpec("x", "NCHW", None, "float32")
        if isinstance(model, torch.nn.Module):
            self.model = model
        elif str(model).endswith(".pt2"):
            self.model, self.input = _exported(Path(model), trust_pickle)
        elif isinstance(model, str) and not model.endswith((".safetensors", ".pt", ".pth")):
            self.model = create_model(model)
        else:
            self.model = load_model(model, allow_pickle=trust_pickle)
        try:
            self.model.eval()
        except NotImplementedError:
            pass  # an ExportedProgram's module is fixed in inference form and refuses eval()
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


def _exported(path: Path, trust_pickle: bool):
    """An ExportedProgram archive (torch.export.save) as a module, loaded without running code from it, and its
    image input's spec (layout, and size when exported at one)."""
    from vst.common.torchload import load_exported_program
    ep = load_exported_program(path, trust_pickle=trust_pickle)
    user = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    if len(user) != 1:
        raise VstError(f"{path} takes {len(user)} inputs; a stylizer takes one image batch")
    val = user[0].meta.get("val")
    shape = [d if isinstance(d, int) else None for d in getattr(val, "shape", ())]
    return ep.module(), image_spec(user[0].name, shape, "float32", str(path))

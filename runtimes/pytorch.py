"""PyTorch (eager) on this machine: a module, a vst checkpoint or a zoo name with random weights."""
from __future__ import annotations

import numpy as np

from vst.runtimes.delegation import Delegation
from vst.runtimes.spec import TensorSpec


class TorchSession:
    runtime = "pytorch"

    def __init__(self, model, threads: int | None = None, trust_pickle: bool = False):
        import torch
        from vst.models import create_model, load_model
        if threads:
            torch.set_num_threads(threads)
        if isinstance(model, torch.nn.Module):
            self.model = model
        elif isinstance(model, str) and not model.endswith((".safetensors", ".pt", ".pth")):
            self.model = create_model(model)
        else:
            self.model = load_model(model, allow_pickle=trust_pickle)
        try:
            self.model.eval()
        except NotImplementedError:
            pass  # an ExportedProgram's module is fixed in inference form and refuses eval()
        self.torch = torch
        self.input = TensorSpec("x", "NCHW", None, "float32")
        self.output_quant = (0.0, 0)
        self.version = torch.__version__
        self.delegation = Delegation("pytorch", "eager", detail=f"eager ({torch.get_num_threads()} threads)")

    def extra_inputs(self) -> dict:
        return {}

    def run(self, x) -> np.ndarray:
        with self.torch.inference_mode():
            t = x if isinstance(x, self.torch.Tensor) else self.torch.from_numpy(np.ascontiguousarray(x))
            return self.model(t).numpy()

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate([self.run(b[None]) for b in batch])

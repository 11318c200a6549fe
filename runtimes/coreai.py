"""Core AI (.aimodel assets, iOS 27 and macOS 27) on this machine, through coreai-core's in-package runtime (an
optional extra: pip install -e '.[coreai]').

An .aimodel holds a device-agnostic program (main.mlirb). Loading it as it is (coreai.runtime.AIModel.load) asks for
a program specialized for a device, main-unspecialized.odix or program.odix in the asset, which only Apple's OS
makes (specialization options exist on macOS only) and fails here with "No such file or directory". What runs on
Linux is the package's own route, AIModelAsset.executable(): it lowers the program to a universal ODIX program
(main-universal.odix) in a temporary .aimodelx folder and runs that on the CPU. Seconds a frame: a check of the
numbers, not of a phone's speed."""
from __future__ import annotations

import asyncio
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from vst.common.errors import VstError, first_line

FUNCTION = "main"
INSTALL = "pip install -e '.[coreai]' (coreai-torch 0.4.3 with coreai-core 1.0.0b3)"


def versions() -> dict[str, str] | None:
    """coreai-torch's and coreai-core's versions, or None where they are not installed."""
    try:
        return {"coreai-torch": version("coreai-torch"), "coreai-core": version("coreai-core")}
    except PackageNotFoundError:
        return None


def require() -> dict[str, str]:
    found = versions()
    if found is None:
        raise VstError(f"Core AI needs the optional coreai extra: {INSTALL}")
    return found


def io_names(path: Path) -> tuple[str, str]:
    """The asset's image input and output names, read from its program's signature."""
    from coreai.authoring.asset import AIModelAsset
    summary = AIModelAsset.load(path).summary(include_statistics=False)
    return summary.function_inputs(FUNCTION)[0][0], summary.function_outputs(FUNCTION)[0][0]


def summary(path: Path) -> dict:
    """What the asset holds: the OS version it needs, its op histogram and the types it stores and computes in."""
    from coreai.authoring.asset import AIModelAsset
    s = AIModelAsset.load(path).summary(include_statistics=True)
    return {"compatibility_version": s._compatibility_version,      # the OS version it needs (27.0)
            "op_histogram": dict(sorted(s.operation_distribution)),
            "storage_types": dict(s.storage_types), "compute_types": list(s.compute_types)}


def run(path: Path, frames: np.ndarray) -> np.ndarray:
    """The asset run on each frame of `frames` (a batch in its input layout), loaded once, on this machine's CPU."""
    return asyncio.run(_run(Path(path), frames))


async def _run(path: Path, frames: np.ndarray) -> np.ndarray:
    from coreai.authoring.asset import AIModelAsset
    from coreai.runtime import NDArray
    name_in, name_out = io_names(path)
    outs = []
    try:
        async with AIModelAsset.load(path).executable() as model:
            function = model.load_function(FUNCTION)
            for i in range(len(frames)):
                got = await function({name_in: NDArray(np.ascontiguousarray(frames[i:i + 1], np.float32))})
                outs.append(got[name_out].numpy())
    except VstError:
        raise
    except Exception as exc:  # the runtime raises RuntimeError variants (its Swift and C++ errors)
        raise VstError(f"{path.name}: Core AI's runtime could not run the asset ({first_line(exc, 160)})") from None
    return np.concatenate(outs)


def quiet_import():
    """coreai_torch, without its warning that torch 2.13.0+cpu is newer than the 2.13.0 it was validated with (the
    local version tag trips its comparison)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import coreai_torch
    return coreai_torch

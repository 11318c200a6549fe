"""The held-out battery's finding kept as a test: fast-neural-style's TransformerNet (reflection pads, affine
instance norms, nearest upsample-convs, 0-255 pixels) brought as TorchScript converts natively to TFLite in fp32
and int8 --dynamic, with no TRANSPOSE left, every op in one XNNPACK partition and the fidelity check passed
(docs/convert.md, held-out battery; scripts/heldout_battery.py runs all five families with full checks)."""
import json
from pathlib import Path

import pytest

from heldout.families import export
from vst.convert import convert

FAMILY = "transformer_net"


@pytest.fixture(scope="module")
def torchscript(tmp_path_factory):
    return export(FAMILY, tmp_path_factory.mktemp("heldout") / f"{FAMILY}.pt", (64, 48))


@pytest.mark.parametrize("quant,dynamic", [("fp32", False), ("int8", True)])
def test_heldout_family_converts_natively(torchscript, tmp_path, quant, dynamic):
    out = tmp_path / f"{FAMILY}-{quant}.tflite"
    rep = convert(str(torchscript), to="tflite", quant=quant, dynamic=dynamic, size=(64, 48), out=out,
                  checks="proofs", gpu_check=False)
    assert json.loads(Path(f"{out}.report.json").read_text())["conversion_path"] == rep["conversion_path"]
    assert rep["conversion_path"]["produced_by"] == "native"
    assert rep["op_histogram"].get("TRANSPOSE", 0) == 0
    assert rep["xnnpack"]["partitions"] == 1 and rep["xnnpack"]["delegated_nodes"] == rep["xnnpack"]["total_nodes"]
    fid = rep["fidelity"]
    assert fid["passed"] and fid["psnr_db"] >= fid["threshold_psnr_db"]

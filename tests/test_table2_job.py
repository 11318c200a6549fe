"""The embedded `table2` job: all 15 Table II configurations, both paper sizes, fp32/fp16/int8, a seconds budget."""
import json

import pytest

from vst.common.errors import VstError
from vst.models import table2
from vst.models.profile import PAPER_RESOLUTIONS
from vst.pipeline.job import EMBEDDED_JOBS, default_job, load_job, resolve_model, validate_job


def test_table2_job_is_embedded_and_covers_the_table():
    job = load_job("table2")
    assert job["models"] == [f"kunster-t2-{int(r['id']):02d}" for r in table2()]
    assert all(resolve_model(m) == (m, True) for m in job["models"])  # zoo names: random weights
    assert job["resolutions"] == [f"{w}x{h}" for w, h in PAPER_RESOLUTIONS]
    assert [(c["to"], c["quant"]) for c in job["conversions"]] == [("tflite", q) for q in ("fp32", "fp16", "int8")]
    assert job["bench"]["device"] == "host" and 0 < job["bench"]["seconds"] <= 5 and "frames" not in job["bench"]
    assert job["convert"] == {"random_weights_checks": "proofs"}   # a speed study: proofs, no quality QA


@pytest.mark.parametrize("name", sorted(EMBEDDED_JOBS))
def test_every_embedded_job_obeys_the_job_schema_and_loads(name, tmp_path):
    validate_job(default_job(name), name)      # the file as shipped, before defaults are merged in
    job = load_job(name)
    assert job["models"] and job["resolutions"] and job["conversions"]
    # a user's copy of it is accepted as a job file too
    (tmp_path / "copy.json").write_text(json.dumps(default_job(name)))
    assert load_job(tmp_path / "copy.json") == job


def test_job_keys_outside_the_schema_are_refused(tmp_path):
    bad = {**default_job("table2"), "bench": {**default_job("table2")["bench"], "secs": 2}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(VstError, match="bench.*secs"):
        load_job(tmp_path / "bad.json")
    bad = {**default_job("table2"), "convert": {"random_weights_checks": "none"}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(VstError, match="random_weights_checks"):
        load_job(tmp_path / "bad.json")


def test_unknown_job_name_lists_the_embedded_ones(tmp_path):
    with pytest.raises(VstError, match="embedded job.*table2"):
        load_job(tmp_path / "table3")

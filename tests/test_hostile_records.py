"""Records and model files read back in (conversion reports, benchmark results and stores, comparisons, device
registries, ONNX external data), hostile or careless: one line naming the file and the field, exit 2, no
traceback, nothing written."""
import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from generators import conversion_report, style_onnx
from test_hostile_inputs import one_line
from vst.common.errors import VstError

VECTORS = Path(__file__).parent / "vectors"
BIG = "1" + "0" * 30           # beyond int64: overflows numpy, pandas and torch downstream


def predict_main():
    from vst.predict.cli import main
    return main


def report_main():
    from vst.reports.cli import main
    return main


def bench_main():
    from vst.bench.cli import main
    return main


def write_report(path, doc=None, **raw):
    """A conversion report; `raw` replaces a field's JSON text with hostile text (NaN, huge numbers)."""
    doc = conversion_report() if doc is None else doc
    text = json.dumps(doc)
    for field, literal in raw.items():
        marker = json.dumps(f"@{field}@")
        doc2 = json.loads(text)
        section, key = field.split(".")
        doc2[section][key] = f"@{field}@"
        text = json.dumps(doc2).replace(marker, literal)
    path.write_text(text)
    return path


def edited(edit):
    doc = conversion_report()
    edit(doc)
    return doc


# (report contents, the field the one line must name)
HOSTILE_REPORTS = [
    (edited(lambda d: d.update(source="abc")), "source"),
    (edited(lambda d: d["source"].update(config=[1, 2])), "source.config"),
    (edited(lambda d: d["source"].update(arch={"a": 1})), "source.arch"),
    (edited(lambda d: d["size"].update(width="480")), "size.width"),
    (edited(lambda d: d.pop("model")), "'model' is a required property"),
    (edited(lambda d: d["fidelity"].update(psnr_db=[80])), "fidelity.psnr_db"),
    ({"raw": {"size.width": BIG}}, "size.width"),
    ({"raw": {"fidelity.psnr_db": "NaN"}}, "fidelity.psnr_db"),
    ({"raw": {"temporal.ratio": "Infinity"}}, "temporal.ratio"),
    ({"raw": {"artifact.bytes": BIG}}, "artifact.bytes"),
]


def _hostile_report(tmp_path, doc):
    path = tmp_path / "m.onnx.report.json"
    if "raw" in doc:
        base = conversion_report()
        base["temporal"] = {"measured": False, "passed": None, "ratio": None, "error_artifact": None,
                            "error_source": None, "threshold_ratio": 1.25, "clips": 0, "frames": 0}
        return write_report(path, base, **doc["raw"])
    return write_report(path, doc)


@pytest.mark.parametrize("doc,field", HOSTILE_REPORTS)
def test_predict_names_the_file_and_field_of_a_hostile_report(capsys, tmp_path, doc, field):
    path = _hostile_report(tmp_path, doc)
    one_line(capsys, predict_main(), [path, "--device", "iphone6s"], path.name, field)


@pytest.mark.parametrize("doc,field", HOSTILE_REPORTS)
def test_report_names_the_file_and_field_of_a_hostile_report(capsys, tmp_path, doc, field):
    path = _hostile_report(tmp_path, doc)
    one_line(capsys, report_main(), [path, "-o", tmp_path / "r.html"], path.name, field)
    assert not (tmp_path / "r.html").exists()


def test_predict_refuses_a_report_size_no_model_takes(capsys, tmp_path):
    for w in (-5, 10 ** 12):
        path = write_report(tmp_path / "m.onnx.report.json", edited(lambda d: d["size"].update(width=w)))
        one_line(capsys, predict_main(), [path, "--device", "iphone6s"], path.name, "not an image size")
    path = write_report(tmp_path / "m.onnx.report.json", edited(lambda d: d["source"].update(config={"a": 1})))
    one_line(capsys, predict_main(), [path, "--device", "iphone6s"], path.name, "not ['a']")


def test_report_pages_a_measured_temporal_check_without_a_ratio(capsys, tmp_path):
    """vst-convert writes ratio null when the source has no temporal error at all (es == 0), and a fidelity
    record may lack max_abs_err: the page says so instead of failing halfway."""
    doc = conversion_report()
    doc["temporal"] = {"measured": True, "passed": None, "ratio": None, "error_artifact": 0.01,
                       "error_source": 0.0, "threshold_ratio": 1.25, "clips": 1, "frames": 4}
    doc["fidelity"]["max_abs_err"] = None
    path = write_report(tmp_path / "m.onnx.report.json", doc)
    from vst.common.cli import run_cli
    assert run_cli(report_main(), [str(path), "-o", str(tmp_path / "r.html")]) == 0, capsys.readouterr().err
    assert "where its source has none" in (tmp_path / "r.html").read_text()


def test_report_refuses_a_profile_section_the_page_cannot_show(capsys, tmp_path):
    doc = conversion_report()
    doc["profile"] = {"ops": [1, 2], "by_op": {}, "whole_ms": 1.0, "sum_ms": 1.0, "sum_over_whole": 1.0,
                      "threads": 2, "runs": 1}
    path = write_report(tmp_path / "m.onnx.report.json", doc)
    one_line(capsys, report_main(), [path, "-o", tmp_path / "r.html"], "profile.ops[", "not of type 'object'")


# --- benchmark results, stores, comparisons, device registries ---------------------------------------------------

def test_a_100k_deep_json_given_to_import_is_one_line(capsys, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    one_line(capsys, bench_main(), ["--import", deep, "--out", tmp_path / "out"], "deep.json", "nests deeper")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("literal,field", [("NaN", "repeats[0].inference.inference_ms[0]"),
                                           ("1e400", "repeats[0].inference.inference_ms[0]"),
                                           (BIG, "repeats[0].inference.inference_ms[0]")])
def test_import_names_a_non_finite_measurement(capsys, tmp_path, literal, field):
    doc = json.loads((VECTORS / "result-coreml.json").read_text())
    doc["repeats"][0]["inference"]["inference_ms"][0] = "@x@"
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps(doc).replace('"@x@"', literal))
    one_line(capsys, bench_main(), ["--import", bad, "--out", tmp_path / "out"], "r.json", field)
    assert not (tmp_path / "out").exists()


def test_nan_where_vst_writes_it_is_read_back(tmp_path):
    """A cell of under 3 repeats has no interval: vst writes NaN in its trust figures, and reads it back."""
    from vst.bench.result import read_result
    doc = json.loads((VECTORS / "result-coreml.json").read_text())
    doc["trust"] = {"fps_e2e_ci": [float("nan"), float("nan")]}
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert read_result(tmp_path / "r.json")["plan"]["cell_id"] == doc["plan"]["cell_id"]


def test_schema_errors_quote_values_short_and_printable(tmp_path):
    from vst.bench.result import read_result
    doc = json.loads((VECTORS / "result-coreml.json").read_text())
    doc["environment"]["device"] = ["\x1b[31m" + "x" * 5000]
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(VstError, match=r"environment\.device") as exc:
        read_result(tmp_path / "r.json")
    assert len(str(exc.value)) < 400 and "\x1b" not in str(exc.value)


def test_results_index_that_is_a_folder(capsys, tmp_path):
    (tmp_path / "results.csv").mkdir()
    one_line(capsys, predict_main(), ["kunster-t2-04", "--device", "iphone6s", "--results", tmp_path],
             "results.csv is a folder")


@pytest.mark.parametrize("text,needle", [("", "the file is empty"), ('{"entries": [{"artifact": "a"}]}',
                                                                     "entries[0]: 'runtime' is a required"),
                                         ('{"entries": Infinity}', "entries: Infinity is out of range")])
def test_report_names_what_is_wrong_in_a_comparison(capsys, tmp_path, text, needle):
    (tmp_path / "x.compare.json").write_text(text)
    one_line(capsys, report_main(), [tmp_path / "x.compare.json", "-o", tmp_path / "r.html"], needle)


def test_device_registry_entries_are_checked(capsys, tmp_path):
    (tmp_path / "devices.json").write_text('{"devices": [1]}')
    one_line(capsys, bench_main(), ["--devices-file", tmp_path / "devices.json", "--device", "iphone11pro",
                                    "--model", "kunster-t2-04", "--out", tmp_path / "out"], "devices[0]")
    (tmp_path / "devices.json").write_bytes(b"\xff\xfe garbage")
    one_line(capsys, bench_main(), ["--devices-file", tmp_path / "devices.json", "--device", "iphone11pro",
                                    "--model", "kunster-t2-04", "--out", tmp_path / "out"], "not UTF-8")
    assert not (tmp_path / "out").exists()


# --- careless inputs to every command that reads records ---------------------------------------------------------

CARELESS = {"empty": b"", "binary": bytes(range(256)) * 4, "nan": b'{"a": NaN}', "wrong type": b"[]",
            "folder": None}
READERS = {  # command, the file it reads, its arguments given that file and its folder
    "report": (report_main, "x.report.json", lambda f, d: [f, "-o", d / "r.html"]),
    "report --study": (report_main, "study.json", lambda f, d: ["--study", d, "-o", d / "r.html"]),
    "report commands": (report_main, "commands.txt", lambda f, d: [d, "-o", d / "r.html"]),
    "predict": (predict_main, "m.onnx.report.json", lambda f, d: [d / "m.onnx", "--device", "iphone6s"]),
    "predict --results": (predict_main, "results.csv",
                          lambda f, d: ["kunster-t2-04", "--device", "iphone6s", "--results", d]),
    "bench --import": (bench_main, "r.json", lambda f, d: ["--import", f, "--out", d / "out"]),
}


@pytest.mark.parametrize("content", list(CARELESS))
@pytest.mark.parametrize("reader", list(READERS))
def test_careless_records(capsys, tmp_path, reader, content):
    main, name, args = READERS[reader]
    target = tmp_path / name
    (tmp_path / "m.onnx").write_bytes(b"")
    if CARELESS[content] is None:
        target.mkdir()
    else:
        target.write_bytes(CARELESS[content])
    if reader == "report commands" and content in ("empty", "nan", "wrong type"):
        # a readable command log alone is no report input; the one line says what is missing
        one_line(capsys, main(), args(target, tmp_path), "found no conversion reports")
        return
    if reader == "predict --results" and content == "empty":  # a store with no rows yet: Table II alone
        from vst.common.cli import run_cli
        assert run_cli(main(), [str(a) for a in args(target, tmp_path)]) == 0
        assert "0 measured iphone6s row(s)" in capsys.readouterr().err
        return
    before = sorted(os.listdir(tmp_path))
    err = one_line(capsys, main(), args(target, tmp_path))
    assert name in err or reader == "report --study" and "study.json" in err
    assert sorted(os.listdir(tmp_path)) == before


def test_an_unreadable_record_is_one_line(capsys, tmp_path, monkeypatch):
    import vst.common.records as records

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")
    path = write_report(tmp_path / "m.onnx.report.json")
    monkeypatch.setattr(records, "open", denied, raising=False)
    one_line(capsys, predict_main(), [path, "--device", "iphone6s"], "cannot read", "Permission denied")


# --- ONNX external data ------------------------------------------------------------------------------------------

def _external(tmp_path, length=None, offset=None, data=b"\0" * 324):
    model = onnx.load(str(style_onnx(tmp_path / "base.onnx", size=(48, 32))))
    t = model.graph.initializer[0]
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("raw_data")
    t.external_data.add(key="location", value="w.bin")
    if length is not None:
        t.external_data.add(key="length", value=str(length))
    if offset is not None:
        t.external_data.add(key="offset", value=str(offset))
    (tmp_path / "w.bin").write_bytes(data)
    onnx.save(model, str(tmp_path / "m.onnx"))
    return model, tmp_path / "m.onnx"


def test_onnx_declaring_360_gb_of_external_data_is_refused_before_reading(capsys, tmp_path):
    from vst.convert.cli import main
    _, path = _external(tmp_path, length=360 * 10 ** 9)
    err = one_line(capsys, main, [path, "--to", "onnx", "-o", tmp_path / "o.onnx", "--bind",
                                  "style_weights=[1,0,0,0]"], "360.0 GB", "324 bytes", "limit")
    assert "m.onnx" in err and not (tmp_path / "o.onnx").exists()


def test_external_data_within_its_files_and_the_limit(tmp_path):
    from vst.runtimes.onnxfile import check_external_data
    model, path = _external(tmp_path)   # 3x3x3x3 float32 = 324 bytes, as the file holds
    assert check_external_data(model, path)
    with pytest.raises(VstError, match="over vst's limit of 100 bytes"):
        check_external_data(model, path, limit=100)
    model, path = _external(tmp_path, offset=200)
    with pytest.raises(VstError, match="324 bytes of external data at offset 200 of 'w.bin', which holds 324"):
        check_external_data(model, path)
    for bad in ({"offset": -4}, {"length": "abc"}):
        model, path = _external(tmp_path, **bad)
        with pytest.raises(VstError, match="not a byte count"):
            check_external_data(model, path)


def test_external_data_that_fits_still_loads(tmp_path):
    from vst.runtimes.onnxfile import load_external_data
    weights = np.random.rand(3, 3, 3, 3).astype(np.float32)
    model, path = _external(tmp_path, data=weights.tobytes())
    load_external_data(model, path)
    np.testing.assert_array_equal(numpy_helper.to_array(model.graph.initializer[0]), weights)


@pytest.mark.parametrize("name", ["m.onnx", "m.tflite", "m.safetensors"])
def test_empty_model_files_given_to_eval_temporal(capsys, tmp_path, name):
    from vst.metrics.cli import main
    (tmp_path / name).write_bytes(b"")
    one_line(capsys, main, [tmp_path / name, "--size", "32", "--frames", "2"], name)


def test_report_names_the_field_of_a_hostile_study_record(capsys, tmp_path):
    (tmp_path / "study.json").write_text('{"schema": "vst-study/1", "configs": "abc"}')
    one_line(capsys, report_main(), ["--study", tmp_path, "-o", tmp_path / "r.html"], "study.json",
             "not a vst-train --study record")

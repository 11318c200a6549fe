"""One model-name grammar across commands: zoo names, overrides, shipped weights as tags, the teacher, files."""
import pytest

from vst.common.errors import VstError
from vst.models.names import parse_model_name
from vst.models.shipped import shipped_models


def test_zoo_names_and_overrides():
    ref = parse_model_name("kunster-t2-04")
    assert (ref.kind, ref.name, ref.config) == ("zoo", "kunster-t2-04", {})
    ref = parse_model_name("kunster:alpha=0.25,beta=1,variant=paper-text")
    assert ref.config == {"alpha": 0.25, "beta": 1.0, "variant": "paper-text"}


def test_shipped_weights_are_tags_of_their_architecture():
    stem = shipped_models()[0].stem
    arch, tag = stem.split("-", 1)
    ref = parse_model_name(f"{arch}.{tag}")
    assert ref.kind == "shipped" and ref.path == shipped_models()[0]
    with pytest.raises(VstError, match="no shipped trained model"):
        parse_model_name("kunster.nope")


def test_teacher_style_short_and_long_forms():
    assert parse_model_name("multistyle26:7").style == 7
    assert parse_model_name("multistyle26:style=7").style == 7


def test_files_win_and_take_a_style(tmp_path):
    f = tmp_path / "kunster-t2-04"
    f.write_bytes(b"x")
    assert parse_model_name(str(f)).kind == "file"
    ref = parse_model_name(f"{f}:3")
    assert (ref.kind, ref.style, ref.path) == ("file", 3, f)


@pytest.mark.parametrize("text, needle", [("no-such-net", "unknown model"), ("kunster:alpha=abc", "not a number"),
                                          ("kunster:alpha", "key=value"), ("missing/file.onnx", "does not exist"),
                                          ("", "empty model name")])
def test_bad_names_are_one_line_errors(text, needle):
    with pytest.raises(VstError, match=needle):
        parse_model_name(text)


def test_one_default_artifact_name_for_vst_convert_and_vst_run(tmp_path, monkeypatch):
    from vst.common.records import artifact_file
    from vst.convert import api
    from vst.convert.cli import main
    from vst.models.names import artifact_stem
    assert artifact_stem("kunster.a025-s05-stage2") == "kunster-a025-s05-stage2"
    assert artifact_stem("kunster:alpha=0.25,beta=1") == "kunster-alpha=0.25,beta=1"     # no ':' in a file name
    ckpt = tmp_path / "my.model.safetensors"
    ckpt.write_bytes(b"x")
    assert artifact_stem(f"{ckpt}:3") == "my.model-style3"      # a file's stem, its style index kept apart
    seen = []

    class Converted(Exception):
        pass

    def record_out(model, **kw):
        seen.append(kw["out"])
        raise Converted
    monkeypatch.setattr(api, "convert", record_out)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Converted):
        main(["kunster.a025-s05-stage2", "--quant", "int8", "--dynamic", "--size", "320x240"])
    assert seen == [artifact_file("kunster-a025-s05-stage2", 320, 240, "int8-dynamic", ".tflite")]
    assert seen[0] == "kunster-a025-s05-stage2-320x240-int8-dynamic.tflite"     # vst-run's default job names

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

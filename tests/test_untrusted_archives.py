"""Model files from strangers: no code pickled inside an ExportedProgram archive runs unless the user trusts it."""
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch

from vst.common.cli import run_cli
from vst.common.errors import VstError
from vst.common.torchload import load_exported_program
from vst.convert.cli import main

MARK = Path(os.environ.get("TMPDIR", "/tmp"))


class _Payload:
    """Unpickling it writes a marker file, then yields what torch expects (a Parameter)."""
    marker = ""

    def __reduce__(self):
        return (_touch_and_param, (self.marker,))


def _touch_and_param(marker):
    Path(marker).write_text("code ran")
    return torch.nn.Parameter(torch.zeros(3, 3, 1, 1))


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.c(x)


@pytest.fixture(scope="module")
def plain_archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("ep") / "plain.pt2"
    torch.export.save(torch.export.export(_Net().eval(), (torch.rand(1, 3, 8, 8),)), str(path))
    return path


def _tamper(src: Path, dst: Path, marker: Path, target: str) -> Path:
    """Rewrite an archive so that loading it would unpickle code: a weight marked use_pickle, or sample inputs."""
    payload = _Payload()
    payload.marker = str(marker)
    blob = io.BytesIO()
    torch.save(payload, blob)
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        names = z.namelist()
        config_name = next(n for n in names if n.endswith("model_weights_config.json"))
        config = json.loads(z.read(config_name))
        key = next(k for k in config["config"] if k.endswith("weight"))
        for name in names:
            data = z.read(name)
            if target == "weight" and name == config_name:
                config["config"][key]["use_pickle"] = True
                data = json.dumps(config).encode()
            elif target == "weight" and name.endswith("/data/weights/" + config["config"][key]["path_name"]):
                data = blob.getvalue()
            elif target == "sample_inputs" and "/data/sample_inputs/" in name:
                data = blob.getvalue()
            out.writestr(name, data)
    return dst


@pytest.mark.parametrize("target", ["weight", "sample_inputs"])
def test_pickled_code_in_exported_program_does_not_run(tmp_path, capsys, plain_archive, target):
    marker = tmp_path / "code-ran"
    evil = _tamper(plain_archive, tmp_path / "evil.pt2", marker, target)
    out = tmp_path / "o.tflite"
    rc = run_cli(main, [str(evil), "--size", "8x8", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "--trust-pickle" in err and "refusing" in err, err
    assert not marker.exists(), "pickled code ran"
    assert not out.exists()


def test_trusted_archive_is_unpickled_on_request(tmp_path, plain_archive):
    marker = tmp_path / "code-ran"
    evil = _tamper(plain_archive, tmp_path / "evil.pt2", marker, "weight")
    with pytest.raises(VstError):
        load_exported_program(evil)
    assert not marker.exists()
    load_exported_program(evil, trust_pickle=True)
    assert marker.exists(), "--trust-pickle is the documented way to load such a file"


def test_plain_archive_loads_and_guard_is_lifted(plain_archive):
    import pickle
    ep = load_exported_program(plain_archive)
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(ep.module()(x), ep.module()(x))
    assert pickle.loads(pickle.dumps([1, 2])) == [1, 2], "the guard must not outlive the load"
    assert torch.load.__module__.startswith("torch")

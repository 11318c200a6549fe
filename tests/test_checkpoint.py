import pickle
import subprocess
import sys

import pytest
import torch

from vst.common.errors import VstError
from vst.models import create_model, load_model, read_metadata, save_model


def test_round_trip_keeps_arch_config_weights(tmp_path):
    model = create_model("kunster", alpha=0.25, beta=0.5)
    path = save_model(model, tmp_path / "m.safetensors", metadata={"style": "candy"})
    loaded = load_model(path)
    assert (loaded.arch, loaded.config) == (model.arch, model.config)
    assert read_metadata(path)["extra"] == {"style": "candy"}
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))


def test_torch_file_with_weights_only_content_loads(tmp_path):
    model = create_model("huang-353-res48")
    torch.save({"arch": model.arch, "config": model.config, "state_dict": model.state_dict()}, tmp_path / "m.pt")
    assert load_model(tmp_path / "m.pt").arch == "huang"


def test_truncated_checkpoint(tmp_path):
    path = save_model(create_model("kunster-t2-15"), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VstError, match="truncated"):
        load_model(path)


def test_other_architecture_is_refused(tmp_path):
    path = save_model(create_model("huang-353-res48"), tmp_path / "h.safetensors")
    with pytest.raises(VstError, match="holds a 'huang' model, not 'kunster'"):
        load_model(path, arch="kunster")


def test_mislabelled_weights_are_refused(tmp_path):
    state = create_model("huang-353-res48").state_dict()
    torch.save({"arch": "kunster", "config": {"alpha": 0.5}, "state_dict": state}, tmp_path / "x.pt")
    with pytest.raises(VstError, match="weights do not fit kunster"):
        load_model(tmp_path / "x.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_carrying_code_is_refused_and_not_run(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"arch": "kunster", "config": {}, "state_dict": {}, "x": _Evil()}, path)
    with pytest.raises(VstError, match="pickled code"):
        load_model(path)
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(VstError, match="pickled code"):
        load_model(raw)
    assert "pwned" not in capsys.readouterr().out


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(VstError, match="does not exist"):
        load_model(tmp_path / "nope.safetensors")
    (tmp_path / "a.txt").write_text("hello world, not a model")
    with pytest.raises(VstError):
        load_model(tmp_path / "a.txt")


def test_cli_prints_one_line_for_bad_checkpoint(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\"")
    proc = subprocess.run([sys.executable, "-c", "import sys; from vst.models.cli import entry; sys.exit(entry())",
                           "info", str(tmp_path / "bad.safetensors")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr

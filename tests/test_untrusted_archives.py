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


# --- strings torch evaluates: symbolic-shape expressions (sympy.sympify) and node targets (getattr from torch) ---

class _Pool(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return torch.nn.functional.max_pool2d(self.c(x), 2)


@pytest.fixture(scope="module")
def dynamic_archive(tmp_path_factory):
    """An export with a dynamic height: its JSON carries expr_str strings, as any dynamic-shape export does."""
    path = tmp_path_factory.mktemp("ep") / "dynamic.pt2"
    h = torch.export.Dim("h", min=4, max=64)
    torch.export.save(torch.export.export(_Pool().eval(), (torch.rand(1, 3, 8, 8),), dynamic_shapes=({2: h},)),
                      str(path))
    return path


def _rewrite_json(src: Path, dst: Path, edit) -> Path:
    """Copy an archive with `edit(doc)` applied to its models/model.json."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for name in z.namelist():
            data = z.read(name)
            if name.endswith("models/model.json"):
                doc = json.loads(data)
                edit(doc)
                data = json.dumps(doc).encode()
            out.writestr(name, data)
    return dst


def _walk(doc, key):
    """Every dict of `doc` that holds `key`."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if key in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _evil_expression(src: Path, dst: Path, marker: Path) -> Path:
    def edit(doc):
        holder = next(_walk(doc, "expr_str"))
        holder["expr_str"] = f"__import__('pathlib').Path({str(marker)!r}).write_text('code ran') and " \
                             + holder["expr_str"]
    return _rewrite_json(src, dst, edit)


def _evil_target(src: Path, dst: Path, target: str) -> Path:
    def edit(doc):
        node = next(n for n in _walk(doc, "target") if "inputs" in n)
        node["target"] = target
    return _rewrite_json(src, dst, edit)


def test_shape_expression_that_runs_code_is_refused_before_torch_reads_it(tmp_path, capsys, dynamic_archive):
    marker = tmp_path / "code-ran"
    evil = _evil_expression(dynamic_archive, tmp_path / "evil.pt2", marker)
    out = tmp_path / "o.tflite"
    rc = run_cli(main, [str(evil), "--size", "8x8", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "shape expression" in err and "refusing" in err and "--trust-pickle" in err, err
    assert not marker.exists(), "the archive's expression ran as code"
    assert not out.exists()
    # the file is the exploit it claims to be: torch itself runs it when told to trust the file
    load_exported_program(evil, trust_pickle=True)
    assert marker.read_text() == "code ran"


def test_node_target_outside_registered_operators_is_refused(tmp_path, dynamic_archive):
    evil = _evil_target(dynamic_archive, tmp_path / "evil.pt2", "torch.save")
    with pytest.raises(VstError, match=r"calls 'torch\.save'.*refusing"):
        load_exported_program(evil)
    # torch looks the name up as an attribute path from the torch module (its own type check comes after)
    from torch._export.serde.serialize import GraphModuleDeserializer
    assert GraphModuleDeserializer().deserialize_operator("torch.save") is torch.save


@pytest.mark.parametrize("kind", ["expression", "target"])
def test_load_guard_refuses_what_the_scan_missed(tmp_path, monkeypatch, dynamic_archive, kind):
    """Defence in depth: with the archive scan blinded, the guard around torch.export.load still refuses."""
    import pickle

    import sympy
    from vst.common import torchload
    marker = tmp_path / "code-ran"
    evil = (_evil_expression(dynamic_archive, tmp_path / "e.pt2", marker) if kind == "expression"
            else _evil_target(dynamic_archive, tmp_path / "t.pt2", "torch.save"))
    monkeypatch.setattr(torchload, "evaluated_strings", lambda path: [])
    with pytest.raises(VstError, match="refusing to run it as code"):
        load_exported_program(evil)
    assert not marker.exists()
    assert sympy.sympify("2*x") == 2 * sympy.Symbol("x"), "the guard must not outlive the load"
    assert pickle.loads(pickle.dumps(1)) == 1


def test_dynamic_export_loads_and_runs(dynamic_archive):
    ep = load_exported_program(dynamic_archive)
    x = torch.rand(1, 3, 12, 8)
    assert ep.module()(x).shape == (1, 3, 6, 4)


def test_every_expression_torch_writes_is_accepted_and_code_is_not(dynamic_archive):
    from vst.common.symexpr import expression_problem, target_problem
    with zipfile.ZipFile(dynamic_archive) as z:
        doc = json.loads(z.read(next(n for n in z.namelist() if n.endswith("models/model.json"))))
    written = [h["expr_str"] for h in _walk(doc, "expr_str")]
    assert written and all(expression_problem(e) is None for e in written), written
    for ok in ["s0*24", "Max(1, FloorDiv(s0, 2))", "Pow(Symbol('s0', integer=True), Integer(-1))",
               "Pow(Symbol('s0'), Rational(1, 2))", "Float('1.5', precision=53)", "Eq(s0, 4) & (s1 >= 2)" ,
               "-s0 + 3 <= 2"]:
        assert expression_problem(ok) is None, ok
    for bad in ["__import__('os').system('true')", "s0.__class__", "Symbol('x').func", "(lambda: 1)()",
                "[c for c in ()]", "Symbol('a b')", "Rational('1/2')", "Integer(2) ** Integer(10**9)",
                "Pow(2, s0)", "exec('1')", "Symbol('x', **{})", "Float('nan; import os')", "x" * 30000,
                "Max(" * 300 + "1" + ")" * 300, "'text'", "f(x)", "s0[0]"]:
        assert expression_problem(bad) is not None, bad
    assert target_problem("torch.ops.aten.conv2d.default") is None
    assert target_problem("_operator.getitem") is None and target_problem("torch.sym_max") is None
    for bad in ["torch.save", "torch.ops.aten", "torch.hub.load", "builtins.exec", "os.system",
                "torch.ops.mylib.evil.default", "#custom:op", "torch.utils.cpp_extension.load_inline"]:
        assert target_problem(bad) is not None, bad

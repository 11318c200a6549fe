"""Apple's targets from the same source, built on Linux: ExecuTorch with its Core ML delegate (structure only:
ExecuTorch's Core ML backend runs on macOS and iOS), and Core AI (.aimodel, coreai-torch, an optional extra)."""
import pytest

from vst.convert import api, verify
from vst.convert.cli import main as convert_main
from test_hostile_inputs import one_line

SIZE = (96, 64)


@pytest.fixture(scope="module")
def et_coreml(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("et_coreml") / "small.pte"
    return out, api.convert(str(ckpt), to="executorch-coreml", size=SIZE, out=out, checks="proofs")


def test_executorch_coreml_is_one_core_ml_subgraph_with_nothing_outside(et_coreml):
    out, rep = et_coreml
    d = rep["executorch"]["delegation"]
    assert (d["subgraphs"], d["compute_nodes_outside"]) == (1, 0), d
    assert rep["delegates"]["coreml"]["verdict"] == "full"
    # Core ML takes instance norm, reflection padding and nearest upsampling as they are: XNNPACK's rewrites
    # are left out and those ops reach the delegate themselves
    applied = {p["name"] for p in rep["passes"] if p["applied"]}
    assert not applied & {"instance_norm_moments", "reflect_pad_as_slices", "nearest_conv_subpixel"}, applied
    assert rep["op_histogram"]["aten_instance_norm_default"] > 0
    assert rep["executorch"]["compute_precision"] == "float32"
    fid = rep["fidelity"]
    assert fid["measured"] is False and "runs on macOS/iOS" in fid["note"]
    assert out.stat().st_size == rep["artifact"]["bytes"] > 0
    from vst.runtimes.executorch import plan
    assert {x.id for x in plan(out.read_bytes(), str(out)).delegates} == {"CoreMLBackend"}


def test_executorch_coreml_is_refused_by_the_host_runners_in_one_line(et_coreml, capsys):
    from vst.bench.cli import main as bench_main
    one_line(capsys, bench_main, ["--device", "host", "--no-progress", "--model", et_coreml[0]], "Core ML delegate",
             "macOS and iPhones", "--to executorch")


def test_executorch_coreml_int8_holds_int8_weights_in_its_core_ml_model(tmp_path, ckpt):
    # as --to coreml --quant int8: coremltools' linear_quantize_weights inside the delegate, float16 compute. The
    # Core ML model sits in the program as the delegate's blob: its MIL program names the dequantizing constants
    rep = {q: api.convert(str(ckpt), to="executorch-coreml", quant=q, size=SIZE, out=tmp_path / f"{q}.pte",
                          checks="proofs") for q in ("fp16", "int8")}
    blob = {q: (tmp_path / f"{q}.pte").read_bytes() for q in rep}
    assert b"constexpr_affine_dequantize" in blob["int8"] or b"constexpr_blockwise_shift_scale" in blob["int8"]
    assert b"constexpr_affine_dequantize" not in blob["fp16"] and b"constexpr_blockwise_shift_scale" not in blob["fp16"]
    assert rep["int8"]["executorch"]["compute_precision"] == "float16"
    assert (rep["int8"]["executorch"]["delegation"]["subgraphs"],
            rep["int8"]["executorch"]["delegation"]["compute_nodes_outside"]) == (1, 0)
    # the weights, stored as float16 in the fp16 program, are half as large in int8
    assert len(blob["int8"]) < len(blob["fp16"])
    assert "int8 weights" in next(p["detail"] for p in rep["int8"]["passes"] if p["name"] == "quantize")


def test_default_names_of_the_two_executorch_programs_differ():
    assert api.default_out("kunster-t2-01", "executorch-coreml", "fp32", SIZE) != \
        api.default_out("kunster-t2-01", "executorch", "fp32", SIZE)


coreai_installed = pytest.mark.skipif(
    __import__("vst.runtimes.coreai", fromlist=["versions"]).versions() is None,
    reason="coreai-torch and coreai-core are the optional coreai extra (pip install -e '.[coreai]')")


@pytest.fixture(scope="module")
def coreai(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("coreai") / "small.aimodel"
    return out, api.convert(str(ckpt), to="coreai", size=SIZE, out=out)


@coreai_installed
def test_coreai_asset_runs_here_and_matches_the_source(coreai, ckpt):
    out, rep = coreai
    assert {p.name for p in out.iterdir()} == {"metadata.json", "main.mlirb", "main.hash"}
    assert rep["coreai"]["compatibility_version"] == "27.0"
    fid = rep["fidelity"]
    assert fid["measured"] and fid["passed"] and fid["psnr_db"] >= verify.THRESHOLDS_DB["fp32"], fid
    tmp = rep["temporal"]
    assert tmp["measured"] and tmp["passed"] and abs(tmp["ratio"] - 1) < 0.01, tmp
    # coreai-torch's decomposition table keeps instance norm whole: no moments rewrite, no refusal
    assert not {p["name"] for p in rep["passes"] if p["applied"]} & {"instance_norm_moments", "reflect_pad_as_slices"}
    # the written asset, run again from its folder, matches the source model
    import torch
    from vst.models import load_model
    from vst.runtimes import coreai as runtime
    images = verify.eval_images(*SIZE)
    got = verify.from_layout(runtime.run(out, verify.to_layout(images, "nhwc")), "nhwc")
    with torch.no_grad():
        ref = load_model(ckpt).eval()(torch.from_numpy(images)).numpy()
    assert verify.compare(ref, got)["psnr_db"] >= verify.THRESHOLDS_DB["fp32"]


@coreai_installed
def test_coreai_asset_as_it_is_asks_for_a_program_only_apple_makes(coreai):
    import asyncio
    from coreai.runtime import AIModel
    with pytest.raises(RuntimeError, match="No such file"):
        asyncio.run(AIModel.load(coreai[0]))


@coreai_installed
def test_coreai_refusals_are_one_line(capsys, tmp_path, ckpt, coreai):
    size = f"{SIZE[0]}x{SIZE[1]}"
    one_line(capsys, convert_main, [ckpt, "--to", "coreai", "--quant", "fp16", "--size", size, "-o",
                                    tmp_path / "h.aimodel"], "--quant fp32")
    mine = tmp_path / "mine.aimodel"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    one_line(capsys, convert_main, [ckpt, "--to", "coreai", "--size", size, "-o", mine],
             "not a Core AI asset written by vst-convert")
    assert (mine / "notes.txt").is_file()
    from vst.bench.cli import main as bench_main
    one_line(capsys, bench_main, ["--device", "host", "--no-progress", "--model", coreai[0]], "Core AI asset",
             "iOS 27")


def test_coreai_without_the_extra_names_the_install(monkeypatch):
    from vst.common.errors import VstError
    from vst.runtimes import coreai as runtime
    monkeypatch.setattr(runtime, "versions", lambda: None)
    with pytest.raises(VstError, match=r"\.\[coreai\]"):
        runtime.require()

"""The shipped trained models load, carry their recipe and figures, and the figures re-measure."""
import pytest

from vst.models import load_model
from vst.training import shipped_model_info, shipped_models


def test_at_least_three_shipped_models_load_with_recipe_and_figures():
    infos = shipped_model_info()
    assert len(infos) >= 3
    for info in infos:
        model = load_model(info["path"])  # what vst-convert does with a checkpoint
        assert info["recipe"]["teacher"].startswith("multistyle26:")
        assert info["stage"] in (1, 2) and info["figures"]["psnr_vs_teacher"] > 15
        assert info["path"].stat().st_size < 1_000_000
        assert model.arch == info["arch"] == "kunster"


def test_stage2_figures_remeasure_and_meet_the_temporal_target():
    from vst.metrics.evaluate import evaluate, synthetic_eval_clips
    from vst.runtimes.stylizer import load_runner
    pairs = {}
    for info in shipped_model_info():
        pairs.setdefault(info["name"].rsplit("-stage", 1)[0], {})[info["stage"]] = info
    complete = [p for p in pairs.values() if set(p) == {1, 2}]
    assert complete
    clips = synthetic_eval_clips(128, 8)
    for p in complete[:1]:  # one pair keeps the suite fast; the rest were measured by the same code
        res = evaluate({s: load_runner(str(p[s]["path"])) for s in (1, 2)}, clips,
                       reference=load_runner(p[1]["recipe"]["teacher"]))
        for s in (1, 2):
            assert res[s]["temporal_error"] == pytest.approx(p[s]["figures"]["temporal_error"], rel=1e-3)
            assert res[s]["psnr_vs_reference"] == pytest.approx(p[s]["figures"]["psnr_vs_teacher"], abs=0.01)
        assert res[2]["temporal_error"] <= 0.6 * res[1]["temporal_error"]


def test_shipped_models_is_sorted_paths():
    paths = shipped_models()
    assert paths == sorted(paths) and all(p.suffix == ".safetensors" for p in paths)

"""vst.training.fedstudy: 002 Fig. 7's study over N edges (Flower replaced by the in-process FedAvg of
test_federated, so it runs in seconds), its table and its claim."""
import json

import pytest

from vst.common.errors import VstError
from vst.training.fedstudy import claim_lines, fig7_study, images_to_reach, loss_table
from vst.training.loop import Recipe

CURVES = {1: [{"images_per_edge": 0, "heldout_loss": 0.5}, {"images_per_edge": 10, "heldout_loss": 0.3},
              {"images_per_edge": 20, "heldout_loss": 0.1}],
          2: [{"images_per_edge": 0, "heldout_loss": 0.5}, {"images_per_edge": 10, "heldout_loss": 0.2},
              {"images_per_edge": 20, "heldout_loss": 0.2}]}


def test_table_and_claim():
    table = loss_table(CURVES).splitlines()
    assert table[0] == "| images per edge | N = 1 | N = 2 |" and len(table) == 2 + 3
    assert table[3] == "| 10 | 0.3000 | 0.2000 |"
    assert images_to_reach(CURVES[1], 0.2) == pytest.approx(15.0)   # linear between 0.3 at 10 and 0.1 at 20
    assert images_to_reach(CURVES[1], 0.5) == 0.0
    assert images_to_reach(CURVES[1], 0.01) is None
    assert claim_lines(CURVES) == ["N = 2 reaches 0.2000 after 20 images per edge; N = 1 needs 15"]


def test_fig7_study_writes_json_and_png(tmp_path, monkeypatch):
    from test_federated import in_process_flower
    from vst.training import flower
    monkeypatch.setattr(flower, "run_flower", in_process_flower())
    recipe = Recipe(model="kunster-t2-15", teacher="multistyle26:3", size=32, crops=8, batch=2, steps=1, seed=0)
    study = fig7_study(recipe, [1, 2], rounds=2, out=tmp_path, eval_crops=2, settings={"rounds": 2},
                       log=lambda s: None)
    assert sorted(study["curves"]) == [1, 2]
    assert [r["images_per_edge"] for r in study["curves"][2]] == [0, 2, 4]
    saved = json.loads((tmp_path / "fig7.json").read_text())
    assert saved["args"] == {"rounds": 2} and saved["claim"] == study["claim"] and len(study["claim"]) == 1
    assert (tmp_path / "fig7.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "fed2.safetensors").is_file()
    with pytest.raises(VstError):
        fig7_study(recipe, [0], rounds=1, out=tmp_path / "none", log=lambda s: None)

"""001 Table 2's Sintel protocol on a generated Sintel-layout folder with exact flow, .flo round trip, and the
OpenCV flow backends' end-point error against exact flow."""
import numpy as np
import pytest
import torch

from vst.common.errors import VstError
from vst.metrics.cli import main as eval_main
from vst.metrics.sintel import format_table, scene_clip, sintel_scenes, sintel_table, write_synthetic_sintel
from vst.video.flow import endpoint_error, estimate_flow, has_deepflow, read_flo, warp, write_flo

@pytest.fixture(scope="module")
def sintel(tmp_path_factory):
    root = tmp_path_factory.mktemp("sintel")
    return root, write_synthetic_sintel(root, (64, 48), 5)


def test_flo_round_trip_and_bad_files(tmp_path):
    flow = np.random.default_rng(0).normal(size=(5, 7, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    assert np.array_equal(read_flo(tmp_path / "a.flo"), flow)
    (tmp_path / "b.flo").write_bytes(b"PIEH" + b"\0" * 8)
    with pytest.raises(VstError, match="must hold"):
        read_flo(tmp_path / "b.flo")
    (tmp_path / "c.flo").write_bytes(b"nope" * 4)
    with pytest.raises(VstError, match="magic"):
        read_flo(tmp_path / "c.flo")


def _eq8_by_hand(y, fwd, valid):
    """sqrt(1/((T-1) D) sum_t sum_k c_k (y_t - f(y_{t+1}))^2), f warping y_{t+1} onto t along forward flow."""
    total, count = 0.0, 0
    for t in range(len(y) - 1):
        w = warp(y[t + 1:t + 2], torch.from_numpy(fwd[t]).permute(2, 0, 1)[None])
        c = torch.from_numpy(valid[t].astype(np.float32))
        total += float(((y[t] - w[0]) ** 2 * c).sum())
        count += y[t].numel()
    return (total / count) ** 0.5


def test_sintel_table_is_eq8_along_the_forward_flow(sintel):
    root, _ = sintel
    scenes = sintel_scenes(root)
    assert [s.name for s in scenes] == ["Alley_2", "Market_6"]  # Table 2's order, the ones present
    steady = lambda x: x  # noqa: E731

    def flicker(x):  # a stylizer whose output jumps every frame
        return x + torch.arange(len(x)).view(-1, 1, 1, 1) % 2 * 0.1

    table = sintel_table({"steady": steady, "flicker": flicker}, scenes)
    for s in scenes:
        y = torch.from_numpy(s.frames).permute(0, 3, 1, 2).float() / 255
        assert table["rows"]["steady"][s.name] == pytest.approx(_eq8_by_hand(y, s.flow_fwd, s.valid), rel=1e-5)
        assert table["rows"]["input"][s.name] == pytest.approx(table["rows"]["steady"][s.name])
        assert table["rows"]["flicker"][s.name] > 3 * table["rows"]["steady"][s.name]
        assert table["rows"]["steady"][s.name] < 0.03  # exact flow: only resampling remains
    lines = format_table(table)
    assert lines[0].split() == ["method", "Alley_2", "Market_6", "mean"]
    assert any(line.startswith("Huang et al. (001 Table 2)") and "0.0439" in line for line in lines)


def test_estimated_flow_backends_report_endpoint_error(sintel):
    root, clips = sintel
    scene = sintel_scenes(root, ["Alley_2"])[0]
    epe = {}
    for backend in ("farneback", "dis"):
        clip, epe[backend] = scene_clip(scene, backend)
        assert clip.frames.shape == scene.frames.shape
    # a smooth pan of about 2 px/frame at 64x48: both estimates within 1.5 px of the exact flow on average
    assert all(0 < e < 1.5 for e in epe.values()), epe
    exact = clips["Alley_2"].flow_fwd[0]
    assert endpoint_error(exact, exact) == 0
    assert endpoint_error(estimate_flow(scene.frames[1], scene.frames[0], "dis"), exact) == pytest.approx(
        endpoint_error(estimate_flow(scene.frames[1], scene.frames[0], "dis"), scene.flow_fwd[0]))
    if not has_deepflow():
        with pytest.raises(VstError, match="contrib"):
            estimate_flow(scene.frames[0], scene.frames[1], "deepflow")


def test_cli_prints_table2_layout_and_rejects_bad_folders(sintel, tmp_path, capsys):
    root, _ = sintel
    assert eval_main(["kunster.a025-s05-stage2", "--sintel", str(root), "--frames", "3", "--size", "32x24",
                      "--flow", "dis", "--json", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert "Alley_2" in out and "Market_6" in out and "kunster.a025-s05-stage2" in out and "flow EPE px (dis" in out
    assert "32x24" in out and (tmp_path / "t.json").is_file()
    with pytest.raises(VstError, match="final/"):
        eval_main(["kunster.a025-s05-stage2", "--sintel", str(tmp_path)])
    with pytest.raises(VstError, match="no scene Nope"):
        eval_main(["kunster.a025-s05-stage2", "--sintel", str(root), "--scenes", "Nope"])
    with pytest.raises(VstError, match="--sintel DIR only"):
        eval_main(["kunster.a025-s05-stage2", "--flow", "dis"])

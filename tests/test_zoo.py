import csv
import subprocess
import sys

import pytest
import torch

from vst.common.errors import VstError
from vst.models import (check_input_size, count_macs, count_params, create_model, fp32_size_mb, list_models,
                        table2)


def test_packaged_table2_matches_reference(shared_table2):
    if not shared_table2.exists():
        pytest.skip("reference folder not beside this checkout")
    with open(shared_table2) as fh:
        ref = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    assert ref == table2()


@pytest.mark.parametrize("row", table2(), ids=lambda r: f"t2-{int(r['id']):02d}")
def test_kunster_reproduces_table2(row):
    model = create_model("kunster", alpha=row["alpha"], beta=row["beta"])
    params = count_params(model)
    expected = row["params_k"] * 1000
    assert abs(params - expected) <= max(0.01 * expected, 500), (params, expected)
    # sizes are printed to 2 decimals in MB (MiB): allow the rounding plus 1%
    assert abs(fp32_size_mb(model) - row["size_mb"]) <= 0.005 + 0.01 * row["size_mb"]
    named = create_model(f"kunster-t2-{int(row['id']):02d}")
    assert count_params(named) == params


def test_reconet_matches_percentage_column():
    reconet = count_params(create_model("reconet"))
    assert abs(reconet - 3.10e6) < 0.01 * 3.10e6
    # 000's "% of ReCoNet" column: row 1 is 15.16 %
    assert count_params(create_model("kunster-t2-01")) / reconet * 100 == pytest.approx(15.16, abs=0.02)


def test_paper_text_variant_uses_4beta_blocks_all_3x3():
    m = create_model("kunster", alpha=1.0, beta=1.0, variant="paper-text")
    assert len(m.residuals) == 4 and m.spec.outer_kernel == 3
    assert len(create_model("kunster", alpha=1.0, beta=0.5, variant="paper-text").residuals) == 2
    assert len(create_model("kunster-t2-01").residuals) == 5


def test_other_architectures_param_counts():
    # Hand-computed from the published layer tables (conv weights + biases + affine instance norms).
    assert count_params(create_model("huang-353-res48")) == 246963
    assert count_params(create_model("johnson")) == 1679235
    # nearest+conv swaps a 3x3 transposed conv for a 3x3 conv of the same shape
    assert count_params(create_model("huang-353-res128-nearest")) == count_params(create_model("huang-353-res128"))


def test_macs_closed_form_for_first_conv():
    m = create_model("kunster-t2-01")
    only_first = torch.nn.Sequential(m.encoder[0])
    assert count_macs(only_first, 480, 320) == 480 * 320 * 32 * 3 * 81


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_every_named_model(name):
    model = create_model(name).eval()
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_invalid_size_names_nearest_valid_sizes():
    model = create_model("kunster-t2-04")
    with pytest.raises(VstError, match=r"nearest valid sizes: 480x320, 480x324"):
        model(torch.rand(1, 3, 322, 480))
    with pytest.raises(VstError, match="at least 8"):
        check_input_size(4, 4)
    check_input_size(480, 320)


def test_bad_configs_are_one_line_errors():
    with pytest.raises(VstError, match="unknown model"):
        create_model("kunstr")
    with pytest.raises(VstError, match="paper-text"):
        create_model("kunster", alpha=1.0, beta=0.6)
    with pytest.raises(VstError, match="not \\['gamma'\\]"):
        create_model("kunster", gamma=2)
    with pytest.raises(VstError, match="width must be one of"):
        create_model("huang", width=64)


def test_vst_zoo_list_csv_has_every_named_model():
    out = subprocess.run([sys.executable, "-m", "vst.models.cli", "list", "--format", "csv"],
                         capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(out.splitlines()))
    assert [r["name"] for r in rows] == list_models()
    row1 = next(r for r in rows if r["name"] == "kunster-t2-01")
    assert int(row1["params"]) == 469731
    assert float(row1["gmacs_480x320"]) == pytest.approx(2 * float(row1["gmacs_320x240"]), rel=0.01)

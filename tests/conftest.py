import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The reference data sits beside a checkout (../shared/reference); the package ships a copy of Table II.
SHARED_TABLE2 = REPO.parent / "shared" / "reference" / "kunster_table2.csv"

# Keep TensorFlow and friends quiet and deterministic on small CI machines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_table2() -> Path:
    return SHARED_TABLE2

"""What the harness tests do when setup's toolchains are missing: in CI (CI=true) fail, elsewhere skip, saying why."""
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    msg = f"{what}; run scripts/setup.sh"
    if IN_CI:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)

#!/usr/bin/env bash
# One-command setup for a fresh Debian 12 / Python 3.11 machine without a GPU:
# system packages the tests need, then .venv at the repository root with everything installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium renders the HTML report in the tests.
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned (constraints.txt): anything unpinned would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
echo "setup: done. Activate with: source .venv/bin/activate"

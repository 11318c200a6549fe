#!/usr/bin/env bash
# One-command setup for a fresh Debian 12 / Python 3.11 machine without a GPU:
# system packages the tests need, then .venv at the repository root with everything installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: headless Chromium renders the HTML report in the tests; kotlin (kotlinc 1.3), junit4 and
# libandroid-json-java (Android's org.json) build and test the Android harness core; adb drives real phones
# (android-sdk-platform-tools only recommends it, and recommends are not installed here); the JDK's headers and gcc
# build the Kotlin runner's JNI bridge to vst's C backend.
PKGS="chromium fonts-dejavu-core kotlin junit4 libandroid-json-java android-sdk-platform-tools adb openjdk-17-jdk-headless gcc"
MISSING=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || MISSING="$MISSING $p"; done
if [ -n "$MISSING" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
fi

# LiteRT's GPU accelerator (WebGPU over Vulkan) runs here on Mesa's software Vulkan driver (lavapipe), which Dawn
# accepts from Mesa 25 on: Debian 12 ships 22.3 (no usable adapter), its backports suite 25. vst-convert then checks
# every TFLite artifact on that GPU. CI must have it; elsewhere the GPU checks say why they did not run.
mesa_ok() {
    local v
    v="$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)"
    [ -n "$v" ] && dpkg --compare-versions "$v" ge 25
}
if ! mesa_ok; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    FROM=""
    # shellcheck disable=SC1091
    if [ "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" = "bookworm" ]; then
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            | $SUDO tee /etc/apt/sources.list.d/vst-bookworm-backports.sources >/dev/null
        FROM="-t bookworm-backports"
    fi
    # shellcheck disable=SC2086
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends $FROM mesa-vulkan-drivers libvulkan1 >/dev/null; } || true
    if ! mesa_ok; then
        if [ "${CI:-}" = "true" ]; then
            echo "setup: could not install Mesa >= 25 (mesa-vulkan-drivers) for LiteRT's GPU accelerator" >&2
            exit 1
        fi
        echo "setup: no Mesa >= 25 Vulkan driver: the GPU accelerator checks will be skipped, with this reason" >&2
    fi
fi

# Swift (swift test of ios_harness/VstBenchKit) is not a Debian package: it must be on PATH.
if command -v swift >/dev/null 2>&1; then
    echo "setup: $(swift --version 2>/dev/null | head -1)"
else
    echo "setup: no Swift toolchain on PATH; install one from swift.org for the iOS harness tests" >&2
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned (constraints.txt): anything unpinned would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
echo "setup: done. Activate with: source .venv/bin/activate"

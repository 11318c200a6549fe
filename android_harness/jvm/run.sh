#!/usr/bin/env bash
# The JVM runner, as vst-bench --device kotlin-jvm calls it:
#   bash android_harness/jvm/run.sh run --plan PLAN.json --result RESULT.json
#   bash android_harness/jvm/run.sh infer --model M.tflite [--accelerator cpu|gpu] [--threads N]
#                                         (--input X.bin | --frames RGB.bin --frame-size WxH) --output Y.bin
# Builds first when a source changed (build.sh). LiteRT's C API library (VST_LITERT_LIB) and ffmpeg (VST_FFMPEG)
# default to the copies in the repository's .venv, as the Python driver sets them.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIBS="${JAVA_LIBS:-/usr/share/java}"
OUT="$ROOT/android_harness/build/jvm"
bash "$HERE/build.sh"

if [ -z "${VST_LITERT_LIB:-}" ]; then
    for lib in "$ROOT"/.venv/lib/python3*/site-packages/ai_edge_litert/libLiteRt.so; do
        [ -f "$lib" ] && export VST_LITERT_LIB="$lib"
    done
fi
if [ -z "${VST_FFMPEG:-}" ] && [ "${1:-}" = run ] && [ -x "$ROOT/.venv/bin/python" ]; then
    VST_FFMPEG=$("$ROOT/.venv/bin/python" -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())" \
                 2>/dev/null) && export VST_FFMPEG || unset VST_FFMPEG
fi
# LiteRT and its GPU accelerator write their own lines to stdout and stderr whatever LiteRT's logger severity
# ("INFO: Created TensorFlow Lite XNNPACK delegate", "INFO: Failed to load OpenCL library", absl's "I0000 ...
# environment.cc:532] Selected adapter", Dawn's "Warning: ...", "ERROR: Model provided has model identifier ..."
# where vst-runner's own line then says what failed): they are dropped, as vst.common.quiet drops them for the
# Python commands. VST_RUNNER_VERBOSE=1 keeps them.
if [ -z "${VST_RUNNER_VERBOSE:-}" ]; then
    CHATTER='^(INFO|WARNING|ERROR|Warning): |^[IWEF][0-9]{4} [0-9:.]+ +[0-9]+ [^ ]+:[0-9]+\] |^$'
    exec 1> >(grep -v --line-buffered -E "$CHATTER") 2> >(grep -v --line-buffered -E "$CHATTER" >&2)
fi
exec java -Dvst.jni.lib="$OUT/libvstjni.so" \
    -cp "$OUT/classes:$LIBS/kotlin-stdlib.jar:$LIBS/kotlin-stdlib-jdk7.jar:$LIBS/com.android.json.jar" \
    org.vst.bench.jvm.RunnerMainKt "$@"

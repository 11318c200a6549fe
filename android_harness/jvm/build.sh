#!/usr/bin/env bash
# Build the JVM runner: the core and jvm/ Kotlin sources with kotlinc (no Gradle), and libvstjni.so with gcc from
# the JNI bridge (jni/vst_jni.c) and vst's native backend (ios_harness/VstBenchKit/Sources/CVstLiteRt, the one C
# source every harness compiles). Outputs go to android_harness/build/jvm, each part rebuilt only when its sources
# change. Exit 3 with one line when a toolchain or Debian package is missing.
# Usage: bash android_harness/jvm/build.sh   (JAVA_LIBS overrides /usr/share/java)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIBS="${JAVA_LIBS:-/usr/share/java}"
OUT="$ROOT/android_harness/build/jvm"
BACKEND="$ROOT/ios_harness/VstBenchKit/Sources/CVstLiteRt"
missing() { echo "jvm/build.sh: $1" >&2; exit 3; }

for tool in kotlinc java javac gcc; do
    command -v "$tool" >/dev/null || missing "$tool is not on PATH; install the Debian package $(case $tool in
        kotlinc) echo kotlin;; gcc) echo gcc;; *) echo openjdk-17-jdk-headless;; esac)"
done
for jar in kotlin-stdlib.jar:kotlin kotlin-stdlib-jdk7.jar:kotlin com.android.json.jar:libandroid-json-java; do
    [ -f "$LIBS/${jar%%:*}" ] || missing "$LIBS/${jar%%:*} is missing; install the Debian package ${jar##*:}"
done
JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
[ -f "$JAVA_HOME/include/jni.h" ] || missing "$JAVA_HOME/include/jni.h is missing; install openjdk-17-jdk-headless"
[ -f "$BACKEND/vst_litert.c" ] || missing "the native backend $BACKEND/vst_litert.c is missing"

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9    # the test suite and vst-bench may build at once

hash_of() { (find "$@" -type f \( -name '*.kt' -o -name '*.c' -o -name '*.h' \) -print0 | sort -z | xargs -0 sha256sum
             ) | sha256sum | cut -c1-16; }

kt=$( (hash_of "$ROOT/android_harness/core/src/main" "$HERE/src"; readlink -f "$(command -v kotlinc)") | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/classes.stamp" 2>/dev/null)" != "$kt" ]; then
    rm -rf "$OUT/classes.tmp"
    # kotlinc 1.3 warns about a JVM option JDK 17 deprecated on every start: its log is shown only on failure
    kotlinc -nowarn -jvm-target 1.8 -cp "$LIBS/kotlin-stdlib-jdk7.jar:$LIBS/com.android.json.jar" -d "$OUT/classes.tmp" \
        $(find "$ROOT/android_harness/core/src/main" "$HERE/src" -name '*.kt' | sort) >"$OUT/kotlinc.log" 2>&1 ||
        { grep -v 'Xverify:none' "$OUT/kotlinc.log" >&2; exit 1; }
    rm -rf "$OUT/classes" && mv "$OUT/classes.tmp" "$OUT/classes"
    echo "$kt" > "$OUT/classes.stamp"
fi

so=$( (hash_of "$ROOT/android_harness/jni" "$BACKEND"; readlink -f "$(command -v gcc)"; echo "$JAVA_HOME") | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/native.stamp" 2>/dev/null)" != "$so" ]; then
    gcc -std=gnu11 -O2 -Wall -shared -fPIC -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -I"$BACKEND/include" \
        -o "$OUT/libvstjni.so.tmp" "$ROOT/android_harness/jni/vst_jni.c" "$BACKEND/vst_litert.c" -ldl -lm -lpthread
    mv "$OUT/libvstjni.so.tmp" "$OUT/libvstjni.so"
    echo "$so" > "$OUT/native.stamp"
fi

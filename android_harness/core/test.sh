#!/usr/bin/env bash
# Build the plain-Kotlin core with kotlinc (no Gradle needed) and run its JUnit 4 tests on the JVM against
# Android's own org.json, as Debian packages them (kotlin, junit4, libandroid-json-java). Classes go to
# android_harness/build/core and are reused while the sources are unchanged.
# Usage: bash android_harness/core/test.sh   (JAVA_LIBS overrides /usr/share/java)
set -euo pipefail
cd "$(dirname "$0")"
LIBS="${JAVA_LIBS:-/usr/share/java}"
OUT=../build/core
need() { [ -f "$LIBS/$1" ] || { echo "core/test.sh: $LIBS/$1 is missing; install the Debian package $2" >&2; exit 3; }; }
command -v kotlinc >/dev/null || { echo "core/test.sh: kotlinc is not on PATH; install the Debian package kotlin" >&2; exit 3; }
need kotlin-stdlib.jar kotlin
need kotlin-stdlib-jdk7.jar kotlin   # AutoCloseable.use
need junit4.jar junit4
need hamcrest-core.jar junit4
need com.android.json.jar libandroid-json-java
STD="$LIBS/kotlin-stdlib.jar:$LIBS/kotlin-stdlib-jdk7.jar"
JSON="$LIBS/com.android.json.jar"
TEST="$LIBS/junit4.jar:$LIBS/hamcrest-core.jar"

stamp=$( (find src -name '*.kt' -print0 | sort -z | xargs -0 sha256sum; readlink -f "$(command -v kotlinc)") | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$OUT" && mkdir -p "$OUT"
    # main first, against org.json alone: the core must not reach for Android or test classes
    kotlinc -nowarn -jvm-target 1.8 -cp "$LIBS/kotlin-stdlib-jdk7.jar:$JSON" -d "$OUT/main" $(find src/main -name '*.kt')
    kotlinc -nowarn -jvm-target 1.8 -cp "$OUT/main:$LIBS/kotlin-stdlib-jdk7.jar:$JSON:$TEST" -d "$OUT/test" $(find src/test -name '*.kt')
    echo "$stamp" > "$OUT/stamp"
fi
classes=$(cd "$OUT/test" && find . -name '*Test.class' ! -name '*$*' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
[ -n "$classes" ] || { echo "core/test.sh: no test classes were built" >&2; exit 1; }
exec java -cp "$OUT/main:$OUT/test:$STD:$JSON:$TEST" org.junit.runner.JUnitCore $classes

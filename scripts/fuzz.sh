#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (server libraries instrumented too) and runs each for
# N seconds on a scratch copy of its corpus. Not part of CI. New crashers are left as
# build-libfuzzer/fuzz-out/<thing>/crash-*: copy one to tests/fuzz/findings/<thing>/ (or, once
# fixed, to tests/fuzz/corpus/<thing>/) so the replay tests keep it.
#   scripts/fuzz.sh [seconds per target, default 60] [target names without fuzz_ ...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
build="build-libfuzzer"
jobs=2

command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install -y clang)"; exit 1; }
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
flags="$flags -fno-omit-frame-pointer -g"
# -Werror is the gcc build's contract (CI); clang's extra warnings must not stop fuzzing, so a
# wrapper puts -Wno-error after the project's own flags.
mkdir -p "$build"
printf '#!/bin/sh\nexec clang "$@" -Wno-error\n' >"$build/clang-no-werror"
chmod +x "$build/clang-no-werror"
CC="$(pwd)/$build/clang-no-werror" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMLOGIND_FUZZ=ON \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null

if [ $# -gt 0 ]; then
    things=("$@")
else
    mapfile -t things < <(find tests/fuzz -maxdepth 1 -name "fuzz_*.c" | sed "s|.*/fuzz_||; s|\\.c$||" | sort)
fi

fail=0
for t in "${things[@]}"; do
    if ! cmake --build "$build" -j"$jobs" --target "fuzz_$t" >"$build/build-$t.log" 2>&1; then
        echo "== fuzz_$t: build failed (see $build/build-$t.log)"
        fail=1
        continue
    fi
    out="$build/fuzz-out/$t"
    work="$build/fuzz-corpus/$t"
    mkdir -p "$out" "$work"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp -n "tests/fuzz/corpus/$t"/* "$work"/ 2>/dev/null || true
    fi
    echo "== fuzz_$t for ${secs}s"
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=16384 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" "$work" \
        >"$out/log" 2>&1; then
        echo "   FAILED: see $out/log and $out/crash-* / leak-* / timeout-*"
        fail=1
    fi
    grep -E "^#[0-9]+.*DONE|^SUMMARY|runtime error" "$out/log" | tail -2 | sed 's/^/   /' || true
done
exit $fail

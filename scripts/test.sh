#!/usr/bin/env bash
# Sets up everything (install-deps.sh, as root on Debian 12) and runs every test:
# clang-format, check-source.sh (banned functions, state words, layering, ownership verbs) and
# its self-test, cppcheck and shellcheck, the OpenAPI lint, promtool on the alert rules, the
# ASan+UBSan -Werror build and its suite (without the slow label), the ThreadSanitizer build and
# its suite, the plain -Werror build with the exported-names and cognitive-complexity gates and
# valgrind over its unit tests, a Release -O2 -Werror build (not run), then the plain build's
# whole suite, browser test included (its ctest summary is the last line). Works from a git
# clone or a release tarball (no .git).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
jobs=$(nproc 2>/dev/null || echo 2)

./scripts/install-deps.sh

echo "== clang-format"
mapfile -t files < <(list_files 'server/*.c' 'server/*.h' 'include/*.h' 'tests/*.c' \
    'tests/*.h' 'sim/*.c' 'sim/*.h' 'cli/*.c' 'bench/*.c')
need_files "C sources" "${files[@]}"
clang-format --dry-run --Werror "${files[@]}"

echo "== checks: banned functions, layering (check-source.sh)"
./scripts/check-source.sh
./scripts/test-check-source.sh

echo "== cppcheck and shellcheck"
cppcheck --quiet --enable=warning,performance,portability --std=c11 --inline-suppr \
    --error-exitcode=1 -I include -I server -I sim server sim cli
mapfile -t shells < <(list_files '*.sh' .ci/run)
need_files "shell scripts" "${shells[@]}"
shellcheck -S warning "${shells[@]}"

echo "== OpenAPI lint"
./scripts/lint-openapi.sh

echo "== Prometheus alert rules (promtool)"
promtool check rules deploy/prometheus/alerts.yaml

echo "== ASan+UBSan build and suite"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVMLOGIND_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    VMLOGIND_TEST_TIMEOUT_SCALE=4 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE slow

echo "== ThreadSanitizer build and suite"
# TSan can share a build neither with ASan nor with valgrind: its own tree, RelWithDebInfo
# (-O2 -DNDEBUG: the suite also runs with asserts compiled out). A race halts the process
# that has it; the daemons' reports land in their logs under tsan_tmp, which are checked too.
# Left out: azcli (the Python az CLI driving azsim, no vmlogind thread), fuzz (single-threaded
# corpus replays) and test_sync_fleet (test_sync_demo/faults run the same sync threads; its
# 10k VMs took 230-288 s under TSan on a loaded 2-core machine, against a 300 s timeout).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMLOGIND_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs"
tsan_tmp=$(mktemp -d)
TMPDIR="$tsan_tmp" TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    VMLOGIND_TEST_TIMEOUT_SCALE=4 \
    ctest --test-dir build-tsan --output-on-failure -j"$jobs" -LE "slow|azcli|fuzz" \
    -E '^integration\.test_sync_fleet$'
if grep -rl "WARNING: ThreadSanitizer" "$tsan_tmp"; then
    echo "ThreadSanitizer reports in the logs above"; exit 1
fi
rm -rf "$tsan_tmp"

echo "== the plain -Werror build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build -j"$jobs"

echo "== exported names and cognitive complexity (check-names.sh, complexity.sh)"
./scripts/check-names.sh build
./scripts/complexity.sh build

echo "== valgrind over the unit tests"
for t in build/tests/test_*; do
    [ -x "$t" ] || continue
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 "$t" \
        >/dev/null
done

echo "== Release -O2 -Werror build of the whole tree, tests included (built, not run)"
# -O2 runs analyses a Debug build never does (-Wformat-truncation, -Wstringop-*), which is what
# scripts/bench.sh builds with; the project's flags already carry -Werror.
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    >/dev/null
cmake --build build-rel -j"$jobs"

echo "== the suite"
ctest --test-dir build --output-on-failure -j"$jobs"

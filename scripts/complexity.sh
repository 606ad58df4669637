#!/usr/bin/env bash
# The cognitive-complexity gate (DESIGN §3.10, in place of curl's pmccabe gate): clang-tidy's
# readability-function-cognitive-complexity over server/, sim/ and cli/ with a threshold of 25.
# A function above it fails unless scripts/complexity-allow.txt lists it, and then it may not
# grow past the score written there (the list only shrinks: split a function and drop its
# line). New code must pass. Needs a compile_commands.json: scripts/complexity.sh [BUILD_DIR]
# (default build/, which CMAKE_EXPORT_COMPILE_COMMANDS fills).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
build=${1:-build}
threshold=25
jobs=$(nproc 2>/dev/null || echo 2)
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json"; exit 1; }
command -v clang-tidy >/dev/null || { echo "clang-tidy is missing"; exit 1; }
mapfile -t files < <(list_files 'server/*.c' 'sim/*.c' 'cli/*.c')
need_files "C sources" "${files[@]}"
config="{CheckOptions: [{key: readability-function-cognitive-complexity.Threshold, value: $threshold},
    {key: readability-function-cognitive-complexity.DescribeBasicIncrements, value: false}]}"
found=$(printf '%s\n' "${files[@]}" | xargs -P"$jobs" -n8 clang-tidy -p "$build" --quiet --extra-arg=-Wno-error \
    --checks='-*,readability-function-cognitive-complexity' --config="$config" 2>/dev/null |
    sed -nE "s|^$(pwd -P)/||; s|^([^:]+):[0-9]+:[0-9]+: warning: function '([^']+)' has cognitive complexity of ([0-9]+).*|\1 \2 \3|p" |
    sort) || { echo "clang-tidy failed"; exit 1; }
# allow-list lines: PATH FUNCTION MAX  # why
awk -v threshold="$threshold" '
    FILENAME == ARGV[1] { sub(/#.*/, ""); if (NF >= 3) { max[$1 " " $2] = $3; seen[$1 " " $2] = 0 } next }
    NF < 3 { next }
    {
        key = $1 " " $2
        if (!(key in max)) { printf "%s: %s has cognitive complexity %d (> %d): split it\n", $1, $2, $3, threshold; bad = 1 }
        else if ($3 > max[key]) { printf "%s: %s grew to cognitive complexity %d (allowed %d): split it\n", $1, $2, $3, max[key]; bad = 1 }
        seen[key] = 1; n++
    }
    END {
        for (k in seen) if (!seen[k]) printf "note: %s is now within %d: drop its line from complexity-allow.txt\n", k, threshold
        printf "cognitive complexity: %d functions over %d (threshold)\n", n, threshold
        exit bad
    }' scripts/complexity-allow.txt - <<<"$found" || { echo "cognitive complexity gate failed (scripts/complexity.sh)"; exit 1; }

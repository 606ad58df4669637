#!/usr/bin/env bash
# The naming rule of STYLE §3.2: a function exported from server/<layer>/<file>.c starts with
# the file's name (store_grants_...) or its layer's (store_...); scripts/names-allow.txt lists
# the few families that don't, each with why. Reads the exported (T) symbols of the objects of
# a build: scripts/check-names.sh [BUILD_DIR] (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
build=${1:-build}
mapfile -t files < <(list_files 'server/*/*.c')
need_files "layer sources" "${files[@]}"
objs=()
for f in "${files[@]}"; do
    layer=${f#server/}
    layer=${layer%%/*}
    obj=$build/server/CMakeFiles/vl_$layer.dir/${f#server/}.o
    [ -f "$obj" ] || { echo "$obj: missing (build $build first)"; exit 1; }
    objs+=("$obj")
done
# nm -A prints OBJECT:ADDRESS TYPE NAME for every exported symbol.
nm -A -g --defined-only "${objs[@]}" | awk '
    FILENAME == ARGV[1] { sub(/#.*/, ""); if (NF >= 2) allow[$1] = allow[$1] " " $2; next }
    $2 == "T" {
        f = $1; sub(/:[0-9a-f]*$/, "", f); sub(/.*\/CMakeFiles\/vl_[a-z]+\.dir\//, "server/", f); sub(/\.o$/, "", f)
        layer = f; sub(/^server\//, "", layer); sub(/\/.*/, "", layer)
        base = f; sub(/.*\//, "", base); sub(/\.c$/, "", base)
        name = $3
        if (name == base || index(name, base "_") == 1 || index(name, layer "_") == 1) next
        n = split(allow[f], p, " ")
        for (i = 1; i <= n; i++) if (index(name, p[i]) == 1) next
        printf "%s: exports %s: prefix it with %s_ or %s_\n", f, name, base, layer; bad = 1
    }
    END { exit bad }' scripts/names-allow.txt - ||
    { echo "exported names (STYLE 3.2): see above, or scripts/names-allow.txt"; exit 1; }

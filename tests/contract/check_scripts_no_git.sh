#!/usr/bin/env bash
# The scripts work from a release tarball (no .git, maybe no git): scripts/lib.sh's list_files
# finds the same files there as `git ls-files` in a clone, check-source.sh really checks them
# (a banned call planted in a copy is caught) and refuses a tree with no sources instead of
# passing or reading stdin. Usage: check_scripts_no_git.sh SOURCE_DIR
set -euo pipefail
src=$(cd "${1:?source dir}" && pwd -P)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# a tarball-like copy: the files, no .git, plus a build dir and node_modules to be skipped
mkdir -p "$work/tree"
(cd "$src" && tar -c --exclude='./build*' --exclude=./.git --exclude=./.cache \
    --exclude=node_modules .) | tar -x -C "$work/tree"
mkdir -p "$work/tree/build-x/server" "$work/tree/tests/node_modules/x"
echo 'int x;' >"$work/tree/build-x/server/generated.c"
echo 'echo' >"$work/tree/tests/node_modules/x/a.sh"

patterns=('server/*.c' 'server/*.h' 'include/*.h' 'tests/*.c' 'sim/*.c' '*.sh' .ci/run)
# shellcheck source=scripts/lib.sh
(cd "$work/tree" && . scripts/lib.sh && list_files "${patterns[@]}") >"$work/found"
[ -s "$work/found" ] || fail "list_files found nothing without git"
! grep -qE '^build-x/|node_modules/' "$work/found" || fail "list_files listed build or node_modules files"
if command -v git >/dev/null && [ "$(git -C "$src" rev-parse --show-toplevel 2>/dev/null)" = "$src" ]; then
    (cd "$src" && git ls-files -- "${patterns[@]}" | LC_ALL=C sort) >"$work/tracked"
    # the copy holds the work tree's files, tracked or not yet: every tracked one must be found
    missing=$(LC_ALL=C comm -23 "$work/tracked" "$work/found" | grep -vE '^(build|\.cache)' || true)
    [ -z "$missing" ] || fail "found by git ls-files but not without git: $missing"
fi

(cd "$work/tree" && ./scripts/check-source.sh </dev/null) || fail "check-source.sh fails on the clean copy"
echo 'static void bad(char *d) { strcpy(d, "x"); }' >>"$work/tree/server/core/buf.c"
if (cd "$work/tree" && ./scripts/check-source.sh </dev/null >/dev/null); then
    fail "check-source.sh missed a strcpy without git"
fi

mkdir -p "$work/empty/scripts"
cp "$src/scripts/lib.sh" "$src/scripts/check-source.sh" "$work/empty/scripts/"
if (cd "$work/empty" && timeout 20 ./scripts/check-source.sh </dev/null >/dev/null 2>&1); then
    fail "check-source.sh passed a tree with no sources"
fi
echo "PASS: $(wc -l <"$work/found") files listed without git"

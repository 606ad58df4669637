#!/usr/bin/env bash
# Shared by the scripts (sourced, run from the repository root).
#
# list_files PATTERN...: the repository's files matching git pathspec-style patterns ('*' also
# matches '/', so 'server/*.c' is every .c under server/), one per line, sorted. Inside a git
# work tree whose top is this directory (and with git installed) it asks `git ls-files`;
# otherwise, as in a release tarball, it walks the tree with find, skipping build*/,
# node_modules/, .cache/ and .git/. Never reads stdin.
list_files() {
    if command -v git >/dev/null 2>&1 &&
        [ "$(git rev-parse --show-toplevel 2>/dev/null </dev/null)" = "$(pwd -P)" ]; then
        git ls-files -- "$@" </dev/null | LC_ALL=C sort
        return
    fi
    local args=() p
    for p in "$@"; do
        [ ${#args[@]} -gt 0 ] && args+=(-o)
        args+=(-path "./$p")
    done
    find . \( -path './build*' -o -path '*/node_modules' -o -path './.cache' -o -path './.git' \) \
        -prune -o -type f \( "${args[@]}" \) -print </dev/null | sed 's|^\./||' | LC_ALL=C sort
}

# need_files WHAT FILE...: fails loudly when a file list came back empty (a check that looks
# at nothing must not pass).
need_files() {
    local what=$1
    shift
    if [ $# -eq 0 ]; then
        echo "no $what found under $(pwd -P): refusing to check nothing" >&2
        return 1
    fi
}

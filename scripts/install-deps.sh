#!/usr/bin/env bash
# Installs everything vmlogind needs to build, test and demo on Debian 12 (run as root).
# Idempotent: packages already present are left alone. The scripts need no git (a release
# tarball has no .git; scripts/lib.sh lists files with find there).
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang-format cppcheck shellcheck valgrind curl
      ca-certificates openssl libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
      libsqlite3-dev libssl-dev libcmocka-dev sqlite3 python3 iproute2
      clang-tidy zsh tmux groff-base man-db bsdextrautils chromium prometheus python3-yaml
      libpq-dev postgresql-15)
# clang-tidy: scripts/complexity.sh; zsh: `vmloginctl completion zsh`; tmux: the terminal
# test of vmloginctl (test_cli_tty); groff-base, man-db and bsdextrautils (col): the check of
# the generated vmloginctl.1 (test_cli_help); chromium: the dashboard's browser test;
# prometheus: promtool checks the alert rules; python3-yaml: the /v1 compatibility check of
# api/openapi.yaml (tests/contract/check_openapi_compat.py); libpq-dev: the PostgreSQL store
# backend; postgresql-15: the test server the PostgreSQL store tests start for themselves
# (tests/pg/pg_server.sh runs initdb and pg_ctl from /usr/lib/postgresql/15/bin).
if [ "${VMLOGIND_WITH_AZCLI:-1}" = 1 ]; then
    pkgs+=(azure-cli)
fi
# The OpenAPI linter (scripts/lint-openapi.sh) runs on Node.js: Debian's, unless one is already
# on the PATH (a Node.js from elsewhere bundles its own npm, which Debian's npm conflicts with).
if ! command -v npm >/dev/null 2>&1; then
    pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # The tests run their own PostgreSQL in a temporary directory: the package is not to make
    # (and, where an init system runs, start) a system cluster "main" that nothing here uses.
    # pg_createcluster reads this directory when postgresql-15's postinst calls it.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/vmlogind.conf
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi
# The Node.js test packages, each pinned by its package-lock.json and installed with `npm ci`
# into .cache/<name> (again whenever the lockfile changes), so the tests then run offline:
# npm_ci_cache <source dir> <name> <a package that must be there>.
npm_ci_cache() {
    local dir=.cache/$2
    if ! cmp -s "$1/package-lock.json" "$dir/package-lock.json" ||
        [ ! -d "$dir/node_modules/$3" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$1/package.json" "$1/package-lock.json" "$dir/"
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --ignore-scripts --no-audit \
            --no-fund --loglevel=error </dev/null
    fi
}
cd "$(dirname "$0")/.."
# The browser tests (tests/browser) drive Debian's chromium with playwright-core and check it
# with axe-core; no browser is downloaded.
npm_ci_cache tests/browser browser playwright-core
# The generated TypeScript client's test (tests/client-ts): openapi-typescript, openapi-fetch
# and typescript.
npm_ci_cache tests/client-ts client-ts openapi-fetch
# The webhook receiver of the integration tests (tests/webhooks/receiver.mjs) verifies each
# delivery with the standardwebhooks package.
npm_ci_cache tests/webhooks webhooks standardwebhooks

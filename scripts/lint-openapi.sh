#!/usr/bin/env bash
# Lints api/openapi.yaml with Redocly's CLI from the npm registry (not part of the build; only
# the linter needs Node.js). The release and its whole dependency tree are pinned by
# scripts/openapi-lint/package-lock.json so that it runs on the Node.js Debian 12 ships (18.19);
# `npm ci` installs exactly that tree into .cache/node, again whenever the lockfile changes.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends nodejs npm </dev/null
fi
dir=.cache/node
if ! cmp -s scripts/openapi-lint/package-lock.json "$dir/package-lock.json" ||
    [ ! -x "$dir/node_modules/.bin/redocly" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    cp scripts/openapi-lint/package.json scripts/openapi-lint/package-lock.json "$dir/"
    npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null
fi
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    "$dir/node_modules/.bin/redocly" lint --config api/redocly.yaml api/openapi.yaml </dev/null

#!/usr/bin/env bash
# Lints api/openapi.yaml with Redocly's CLI from the npm registry, installed once into
# .cache/node (not part of the build; only the linter needs Node.js).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
fi
dir=.cache/node
if [ ! -x "$dir/node_modules/.bin/redocly" ]; then
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" @redocly/cli@2.77.0 >/dev/null
fi
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    "$dir/node_modules/.bin/redocly" lint --config api/redocly.yaml api/openapi.yaml

#!/usr/bin/env bash
# Installs everything vmlogind needs to build, test and demo on Debian 12 (run as root).
# Idempotent: packages already present are left alone.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang-format cppcheck shellcheck valgrind curl
      ca-certificates openssl libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
      libsqlite3-dev libssl-dev libcmocka-dev sqlite3 python3 iproute2)
if [ "${VMLOGIND_WITH_AZCLI:-1}" = 1 ]; then
    pkgs+=(azure-cli)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

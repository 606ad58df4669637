#!/usr/bin/env bash
# Checks that ./scripts/test.sh passes in a bare Debian 12 with nothing installed by hand:
# builds a minbase bookworm root with debootstrap, copies a release tarball of HEAD (git
# archive: committed files only, no .git) into /src, and runs the test command there under
# chroot. Run as root on a Debian/Ubuntu host with network access to a Debian mirror and the
# npm registry; takes 15-30 minutes and ~3 GB. Not run by CI.
# Usage: scripts/bare-debian-check.sh [ROOT_DIR] (default /var/tmp/vmlogind-bare; removed
# afterwards unless KEEP_ROOT=1). MIRROR overrides the Debian mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/var/tmp/vmlogind-bare}
mirror=${MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, mount)" >&2; exit 1; }
[ ! -e "$root" ] || { echo "$root exists: remove it or pass another directory" >&2; exit 1; }
command -v debootstrap >/dev/null ||
    { apt-get update -q </dev/null && apt-get install -y -q debootstrap </dev/null; }

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R -l "${mounted[i]}" || true; done
    if [ "${KEEP_ROOT:-0}" != 1 ]; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
rbind() { # host-dir: the host's tree, recursively, with nothing flowing back to the host
    mount --rbind "$1" "$root$1"
    mount --make-rslave "$root$1"
    mounted+=("$root$1")
}

debootstrap --variant=minbase bookworm "$root" "$mirror" </dev/null
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
rbind /sys
rbind /dev
# The host's network settings: its resolver, and the CAs it added locally (a host behind a
# TLS-inspecting proxy trusts it that way; the ca-certificates package that install-deps.sh
# installs takes them in, as on the host).
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts; an installed Debian (the installer) or a container (its
# runtime) always has one: the installer's.
[ -e "$root/etc/hosts" ] || printf '%s\n' '127.0.0.1	localhost' \
    '::1		localhost ip6-localhost ip6-loopback' 'ff02::1		ip6-allnodes' \
    'ff02::2		ip6-allrouters' >"$root/etc/hosts"
if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
mkdir -p "$root/src"
git archive HEAD | tar -x -C "$root/src"
echo "== ./scripts/test.sh in a bare Debian 12 ($root)"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c 'cd /src && ./scripts/test.sh' </dev/null
echo "bare Debian 12: ./scripts/test.sh passed"

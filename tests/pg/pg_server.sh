#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for the store tests: pg_server.sh start|stop DIR.
#   start  makes DIR (removing a server a crashed run left there), runs initdb in DIR/data and
#          starts the server listening on no TCP address, only on the Unix socket DIR/.s.PGSQL.5432;
#          clients connect with host=DIR user=vmlogind (trust: the socket is reachable only
#          through DIR, mode 0700); every other role signs in with its password (scram-sha-256),
#          which the password-file tests need. pg_ctl -w waits with a deadline (-t), not a sleep.
#   stop   stops that server (fast shutdown, then immediate if it lingers) and removes DIR.
# As root the server runs as the "postgres" user the Debian package creates (or "nobody"), since
# PostgreSQL refuses to run as root; otherwise as the caller. PG_BINDIR overrides where initdb and
# pg_ctl are (default /usr/lib/postgresql/15/bin).
set -euo pipefail
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
# The server's user may not be able to enter the caller's directory (a clone under /root).
cd /

# as_owner CMD...: runs CMD as the user that owns the server.
owner=
if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
fi
as_owner() {
    if [ -n "$owner" ]; then
        runuser -u "$owner" -- "$@"
    else
        "$@"
    fi
}

stop_server() {
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null 2>&1 ||
            as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 ||
            true
    fi
}

case $cmd in
start)
    for b in initdb pg_ctl; do
        [ -x "$bindir/$b" ] || { echo "$0: no $bindir/$b (install postgresql-15)" >&2; exit 1; }
    done
    stop_server
    rm -rf "$dir"
    mkdir -m 0700 "$dir"
    [ -z "$owner" ] || chown "$owner:" "$dir"
    # A minimal cluster: no fsync (a test database is thrown away), C locale, UTF-8.
    if ! as_owner "$bindir/initdb" -D "$dir/data" -U vmlogind -A trust -E UTF8 --locale=C \
        --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        exit 1
    fi
    # initdb's file is replaced in place (its owner and mode stay).
    printf 'local all vmlogind trust\nlocal all all scram-sha-256\n' >"$dir/data/pg_hba.conf"
    if ! as_owner "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
        >/dev/null; then
        cat "$dir/server.log" >&2 || true
        exit 1
    fi
    echo "$dir"
    ;;
stop)
    stop_server
    rm -rf "$dir"
    ;;
*) usage ;;
esac

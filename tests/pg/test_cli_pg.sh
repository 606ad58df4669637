#!/usr/bin/env bash
# `vmlogind migrate` with store_backend = postgresql on the test server (VMLOGIND_TEST_PGHOST,
# the ctest fixture "pg"): it applies the PostgreSQL migrations and says the version, a second
# run changes nothing, a password in postgres_url is printed masked only; the other commands run
# on it too (`keys create` then `keys list` sees the key), and a database that cannot be reached
# is named with its password masked, and one that does not sort text in byte order is refused.
# test_cli_pg.sh VMLOGIND_BINARY MIGRATIONS_DIR
set -euo pipefail
bin=$1
mdir=$2
host=${VMLOGIND_TEST_PGHOST:?run under ctest (the pg fixture sets VMLOGIND_TEST_PGHOST)}
db=vl_cli_$$
tmp=$(mktemp -d)
psql=${PG_BINDIR:-/usr/lib/postgresql/15/bin}/psql
[ -x "$psql" ] || psql=psql
psql_admin() { "$psql" -X -q -At -v ON_ERROR_STOP=1 -h "$host" -U vmlogind -d "$1" -c "$2"; }
cleanup() {
    psql_admin postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
psql_admin postgres "CREATE DATABASE $db"

newest=$(find "$mdir/postgresql" -name '[0-9]*_*.sql' -printf '%f\n' | sort | tail -n 1)
newest=$((10#${newest%%_*}))
count=$(find "$mdir/postgresql" -name '[0-9]*_*.sql' | wc -l)

export VMLOGIND_STORE_BACKEND=postgresql
export VMLOGIND_POSTGRES_URL="host=$host user=vmlogind dbname=$db password=cli-pw-5e1"
for run in 1 2; do
    "$bin" migrate >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "migrate run $run"; }
    grep -q "is at schema version $newest\$" "$tmp/out" || fail "run $run: $(cat "$tmp/out")"
    grep -q "password=\*\*\*" "$tmp/out" || fail "run $run: no masked URL in $(cat "$tmp/out")"
    if grep -q cli-pw-5e1 "$tmp/out" "$tmp/err"; then fail "run $run printed the password"; fi
    applied=$(grep -c "msg=store_migrate" "$tmp/err" || true)
    if [ "$run" = 1 ]; then want=$count; else want=0; fi
    [ "$applied" = "$want" ] || fail "run $run applied $applied migrations, expected $want"
done
rows=$(psql_admin "$db" "SELECT count(*) FROM schema_migrations")
[ "$rows" = "$count" ] || fail "schema_migrations has $rows rows, expected $count"
fix=$(psql_admin "$db" "SELECT vl_login_fix('1007')")
[ -n "$fix" ] || fail "migrate made no vl_login_fix (the login.failed triggers call it)"

# replicas share one audit key file: without one the commands that audit refuse to run
rc=0
"$bin" keys create --name cli-pg --role reader >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "keys create without audit_key_file exited $rc, expected 1"
grep -q "needs audit_key_file" "$tmp/err" || fail "without audit_key_file: $(cat "$tmp/err")"
export VMLOGIND_AUDIT_KEY_FILE=$tmp/audit-key
rc=0
"$bin" keys create --name cli-pg --role reader >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "keys create with a missing audit key file exited $rc, expected 1"
(umask 077 && openssl rand -hex 32 >"$tmp/audit-key")
"$bin" keys create --name cli-pg --role reader >"$tmp/out" 2>"$tmp/err" ||
    { cat "$tmp/err"; fail "keys create on PostgreSQL"; }
grep -q 'vlk_' "$tmp/out" || fail "keys create printed no key: $(cat "$tmp/out")"
"$bin" keys list >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "keys list on PostgreSQL"; }
grep -q 'cli-pg' "$tmp/out" || fail "keys list lacks the key: $(cat "$tmp/out")"
if grep -q cli-pw-5e1 "$tmp/out" "$tmp/err"; then fail "keys printed the password"; fi

rc=0
VMLOGIND_POSTGRES_URL="host=$host user=vmlogind dbname=vl_none_$$ password=cli-pw-5e1" \
    "$bin" keys list >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "keys list on a missing database exited $rc, expected 1"
grep -q "password=\*\*\*" "$tmp/err" || fail "no masked URL in: $(cat "$tmp/err")"
if grep -q cli-pw-5e1 "$tmp/out" "$tmp/err"; then fail "the failure printed the password"; fi

# a database that sorts text by a language's rules (ICU en-US here) is refused, with the fix
psql_admin postgres "CREATE DATABASE ${db}_icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
rc=0
VMLOGIND_POSTGRES_URL="host=$host user=vmlogind dbname=${db}_icu" "$bin" migrate \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
psql_admin postgres "DROP DATABASE ${db}_icu WITH (FORCE)"
[ "$rc" = 1 ] || fail "migrate on an ICU-collated database exited $rc, expected 1"
grep -q "collation is ICU en-US.*LC_COLLATE 'C'" "$tmp/err" || fail "ICU database: $(cat "$tmp/err")"

unset VMLOGIND_POSTGRES_URL
rc=0
"$bin" migrate >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] || fail "migrate without postgres_url exited $rc"
grep -q "needs postgres_url" "$tmp/err" || fail "without postgres_url: $(cat "$tmp/err")"
echo "ok: vmlogind migrate on PostgreSQL (version $newest, $count migrations, once); keys on it"

#!/usr/bin/env bash
# Runs the core test suite against Debian's PostgreSQL 15 (the oldest version we support), when its
# server binaries are on this machine. The default suite runs on the embedded PostgreSQL 18.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
if [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL 15 is not installed here; skipping the PostgreSQL 15 run."
  exit 0
fi
dir="$(mktemp -d /tmp/ops-pg15-XXXXXX)"
chmod 755 "$dir"
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; as_pg=(runuser -u postgres --); fi
port=$((20000 + RANDOM % 20000))
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c max_connections=300 -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null
trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
echo "PostgreSQL 15 on port $port: running the core tests against it"
OPS_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres" pnpm --filter @ops-control-room/core test

#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: installs the Debian server package when it is missing,
# then starts/stops a cluster in a temporary folder on a loopback port. Used by tests/integration/test_postgres_instance.py.
#
#   scripts/ensure_postgres.sh install            # exit 0 when initdb/pg_ctl are available, 3 when they cannot be had
#   scripts/ensure_postgres.sh start DIR PORT     # new cluster in DIR, listening on 127.0.0.1:PORT; prints its URL
#   scripts/ensure_postgres.sh stop DIR           # fast shutdown
set -euo pipefail

find_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

# PostgreSQL refuses to run as root: run the server as the `postgres` user then.
as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}
case "$cmd" in
  install)
    if find_bindir >/dev/null; then exit 0; fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
      echo "PostgreSQL server not installed, and apt-get as root is not available to install it" >&2
      exit 3
    fi
    echo "installing the PostgreSQL server (apt-get install postgresql)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # Do not start the packaged cluster: the tests start their own.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1; fi
    trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; then
      echo "apt-get install postgresql failed" >&2
      exit 3
    fi
    find_bindir >/dev/null || { echo "postgresql installed but initdb/pg_ctl not found" >&2; exit 3; }
    ;;
  start)
    dir=${2:?data folder}; port=${3:?port}
    bindir=$(find_bindir) || { echo "no PostgreSQL server: run '$0 install' first" >&2; exit 3; }
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then
      id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
      chown postgres "$dir"
      chmod 755 "$(dirname "$dir")" || true
    fi
    as_server_user "$bindir/initdb" -D "$dir/data" -U dagster --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_server_user "$bindir/createdb" -h 127.0.0.1 -p "$port" -U dagster dagster
    echo "postgresql://dagster@127.0.0.1:$port/dagster"
    ;;
  stop)
    dir=${2:?data folder}
    bindir=$(find_bindir) || exit 0
    [[ -f "$dir/data/postmaster.pid" ]] || exit 0
    as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *)
    echo "usage: $0 install | start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac

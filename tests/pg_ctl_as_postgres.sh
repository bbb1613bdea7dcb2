#!/bin/sh
# pg_ctl shim for pytest-postgresql. PostgreSQL refuses to run as root, so when
# the tests run as root, hand every pg_ctl call (--version, initdb, start,
# status, stop) to the 'postgres' OS user. As non-root it is a plain pass-through.
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -n "$PG_BIN" ] || PG_BIN=$(dirname "$(command -v pg_ctl)")
PG_OS_USER=${PG_OS_USER:-postgres}
[ "$(id -u)" -ne 0 ] && exec "$PG_BIN/pg_ctl" "$@"
# pytest makes its tmp dirs 0700 root-owned: give the cluster's parent dir
# (data dir + log file live there) to postgres and let it traverse the parents.
prev=""
for a in "$@"; do
  if [ "$prev" = "-D" ] || [ "$prev" = "--pgdata" ] || [ "$prev" = "-l" ]; then
    parent=$(dirname "$a")
    if [ -d "$parent" ] && [ "$(stat -c %U "$parent")" != "$PG_OS_USER" ]; then
      chown "$PG_OS_USER" "$parent"
      d=$(dirname "$parent")
      while [ "$d" != "/" ]; do chmod o+x "$d"; d=$(dirname "$d"); done
    fi
  fi
  prev=$a
done
cd / && exec runuser -u "$PG_OS_USER" -- "$PG_BIN/pg_ctl" "$@"

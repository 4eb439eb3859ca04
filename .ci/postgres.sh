#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1:$PGPORT as the postgres user and print
# the SQLAlchemy URL for it. The server refuses to run as root, hence runuser.
set -euo pipefail
PGPORT=${PGPORT:-54329}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
PGDATA=$(mktemp -d /tmp/lmops-pg.XXXXXX)
chown postgres:postgres "$PGDATA"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >&2
# A port that refused a connect may still be bound by a client socket: try the next ones.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
    -o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off" start >&2; then
    break
  fi
  [ "$attempt" = 10 ] && { tail -n 5 "$PGDATA/server.log" >&2; exit 1; }
  PGPORT=$((PGPORT + 1))
done
# Whoever started it may want to stop it: the data directory names the server.
[ -n "${LMOPS_PGDATA_FILE:-}" ] && echo "$PGBIN $PGDATA" > "$LMOPS_PGDATA_FILE"
runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres lmops_test >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT/lmops_test"

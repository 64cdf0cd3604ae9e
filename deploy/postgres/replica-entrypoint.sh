#!/usr/bin/env bash
# The streaming replica: copied from the primary once (pg_basebackup -R writes the standby
# signal and the primary's conninfo), then started as a hot standby.
set -euo pipefail
export PGPASSWORD="$(cat /run/secrets/replication_password)"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  for attempt in $(seq 1 60); do
    pg_basebackup -h postgres -U replicator -D "$PGDATA" -R -X stream --checkpoint=fast && break
    echo "replica: primary not ready (attempt $attempt)"; sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on

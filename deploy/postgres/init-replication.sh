#!/usr/bin/env bash
# Run once by the postgres image on an empty primary (docker-entrypoint-initdb.d): the role
# the replica streams as, allowed by pg_hba for replication only.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$(cat /run/secrets/replication_password)" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"

#!/bin/sh
# Runs in temporalio/admin-tools: creates Temporal's persistence and visibility databases and brings
# their schemas to the version the server image expects. Safe to rerun: create and setup are no-ops
# on an existing database, update-schema applies only missing versions.
set -eu
until nc -z -w 5 postgresql 5432; do echo 'waiting for postgresql:5432'; sleep 2; done
for db in temporal temporal_visibility; do
  kind=temporal; [ "$db" = temporal_visibility ] && kind=visibility
  temporal-sql-tool --plugin postgres12 --ep postgresql -u "$POSTGRES_USER" -p 5432 --db "$db" create || true
  temporal-sql-tool --plugin postgres12 --ep postgresql -u "$POSTGRES_USER" -p 5432 --db "$db" setup-schema -v 0.0 || true
  temporal-sql-tool --plugin postgres12 --ep postgresql -u "$POSTGRES_USER" -p 5432 --db "$db" \
    update-schema -d "/etc/temporal/schema/postgresql/v12/$kind/versioned"
done
echo 'Temporal schemas ready'

#!/bin/sh
# Runs in temporalio/admin-tools once the server is healthy: creates Lamina's namespace and registers
# its search attributes (LaminaTaskType, LaminaObjectId, LaminaUser), so the API can list tasks.
set -eu
ns="${LAMINA_NAMESPACE:-default}"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do echo 'waiting for temporal'; sleep 3; done
temporal operator namespace describe -n "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$ns" --retention 30d --address "$TEMPORAL_ADDRESS"
for attribute in LaminaTaskType LaminaObjectId LaminaUser; do
  temporal operator search-attribute create -n "$ns" --name "$attribute" --type Keyword \
    --address "$TEMPORAL_ADDRESS" || true # already registered on a rerun
done
echo "namespace '$ns' ready"

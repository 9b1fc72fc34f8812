-- What the durable workflows (ARCHITECTURE.md §6) record beyond the management plane's schema:
-- where each layer version's disk lives, what it was built on, the packaging cache, and how a
-- published image was delivered.

ALTER TABLE layer_versions
  -- The layer disk in the repository (a dynamic VHDX), set when the version becomes Deployable.
  ADD COLUMN disk_path       text,
  -- App and platform versions are built on one OS layer version; OS versions on none.
  ADD COLUMN os_version_id   uuid REFERENCES layer_versions (id),
  -- The task (workflow id) that creates the version, so the console can link to it.
  ADD COLUMN task_id         text,
  -- What the admin has to do while the version is ActionRequired (packaging machine, instructions).
  ADD COLUMN action          jsonb;

-- Composed packaging-machine boot disks per connector, keyed by the layer versions they contain
-- (OS + prerequisites). Least recently used entries are evicted to honour packaging_cache_gb.
CREATE TABLE packaging_cache_entries (
  connector_id  uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
  cache_key     text NOT NULL,
  disk_path     text NOT NULL,
  -- Counted at the disk's virtual size: what the hypervisor datastore must be able to hold.
  size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connector_id, cache_key)
);

-- One row per cache lookup, keyed by the workflow-chosen lookup id: a retried lookup counts once.
-- connectors.cache_hits / cache_lookups are bumped in the same transaction as the insert.
CREATE TABLE packaging_cache_lookups (
  id            uuid PRIMARY KEY,
  connector_id  uuid NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
  hit           boolean NOT NULL,
  looked_up_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE published_images
  ADD COLUMN connector_id  uuid REFERENCES connectors (id) ON DELETE SET NULL,
  ADD COLUMN task_id       text,
  -- MCS master images: the VM and its snapshot on the connector's hypervisor.
  ADD COLUMN vm            jsonb,
  ADD COLUMN post_publish  jsonb;

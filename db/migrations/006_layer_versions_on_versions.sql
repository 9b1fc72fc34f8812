-- Issue 16: OS layer versions that keep every app layer working, versions built on versions, the
-- elastic-fit verdict of a captured version, and layer scripts.
--
-- Bindings were already to the OS layer (layers.os_layer_id); what changes is what os_version_id means:
-- the OS version an app or platform version was MADE on, which composes with any version of that OS
-- layer (a template whose OS version differs gets a warning, not a refusal). Layer disks written
-- before are read as they are: a disk's layer.json without a shared layer identity is its own (see
-- compositor/layer-metadata.ts, layerIdentity), and a new OS version takes over the identities of the
-- layer's existing disks, so nothing stored is rewritten.
COMMENT ON COLUMN layer_versions.os_version_id IS
  'App and platform versions: the OS layer version they were made on; any version of that OS layer composes with them';

ALTER TABLE layer_versions
  -- A new app or platform version is packaged on its previous version's content: which one (NULL: on the
  -- OS alone, or made another way). Kept when that version is deleted, as its name is.
  ADD COLUMN based_on_version_id  uuid REFERENCES layer_versions (id) ON DELETE SET NULL,
  -- Why a captured version got its elastic_fit verdict: one {rule, detail} per finding; empty when it has none.
  ADD COLUMN elastic_fit_reasons  jsonb NOT NULL DEFAULT '[]'::jsonb
                                  CHECK (jsonb_typeof(elastic_fit_reasons) = 'array'),
  ADD CONSTRAINT layer_versions_scripts_array CHECK (jsonb_typeof(scripts) = 'array');

COMMENT ON COLUMN layer_versions.scripts IS
  'The layer''s first-start scripts (paths under \.lamina\scripts of its disk), run in name order by the image''s runner';

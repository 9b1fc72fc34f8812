-- The size of an OS layer version's Windows volume (issue 16 §6): a template's disk must leave the
-- Windows partition at least that much, which the layer disk's file size (size_bytes) does not tell.
-- Set when a version becomes Deployable; versions made before stay NULL and are checked by compose.
ALTER TABLE layer_versions ADD COLUMN volume_bytes bigint;

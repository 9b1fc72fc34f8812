-- User layers in the image (issue 19): templates may choose Session Office 365 user layers, and storage
-- locations keep the SIDs their groups resolved to when they were saved, which published images name.

ALTER TABLE image_templates DROP CONSTRAINT image_templates_user_layer_check;
ALTER TABLE image_templates ADD CONSTRAINT image_templates_user_layer_check
  CHECK (user_layer IN ('none', 'full', 'office365', 'session_office365'));

-- The groups of a location as the directory named them when it was saved:
-- [{ "name": "EXAMPLE\\it-staff", "kind": "group", "sid": "S-1-5-21-…", "dn": "…" }], in ad_groups' order.
ALTER TABLE storage_locations ADD COLUMN principals jsonb NOT NULL DEFAULT '[]'::jsonb;

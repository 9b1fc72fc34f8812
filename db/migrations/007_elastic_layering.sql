-- Elastic layering (issue 19): the shares elastic layers are delivered from, and the SIDs assignments
-- resolved to when they were saved.

-- Elastic layer shares (System > Settings): each holds every assigned layer and the three JSON files
-- the Layering Service reads at logon. More than one share is a replica (a share per site).
CREATE TABLE elastic_shares (
  id           uuid PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  -- \\server\share as the desktops reach it; Layers.json names the layer files below it.
  share_path   text NOT NULL,
  user_name    text,
  password     jsonb,                    -- sealed (config/secret-box), never answered
  -- Where the appliance has the share mounted (the file-share connector's rules).
  mount_point  text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- The users and groups of an assignment as the directory named them when it was saved:
-- [{ "name": "EXAMPLE\\alice", "kind": "user" | "group", "sid": "S-1-5-21-…", "dn": "…" }].
ALTER TABLE elastic_assignments ADD COLUMN principals jsonb NOT NULL DEFAULT '[]'::jsonb;

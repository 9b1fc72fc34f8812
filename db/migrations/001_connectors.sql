-- Connector configurations (ARCHITECTURE.md §3, §7). Settings are validated per type by the API;
-- secrets are stored encrypted and never returned.
CREATE TABLE connectors (
  id          uuid PRIMARY KEY,
  type        text NOT NULL,
  name        text NOT NULL UNIQUE,
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

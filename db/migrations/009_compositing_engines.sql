-- Issue 17: Compositing Engines (offloadCompose). Each engine is made for one compose and registers once
-- with the one-time token it was launched with; the token is sealed with the master key (never stored in
-- clear, never in Temporal history: the engine proves it holds it with an HMAC over its id). A row lives
-- as long as its engine: the task that removes the engine removes the row.
CREATE TABLE compositing_engines (
  id             uuid PRIMARY KEY,
  task_id        text NOT NULL,
  connector_id   uuid NOT NULL REFERENCES connectors (id),
  token          jsonb NOT NULL,
  expires_at     timestamptz NOT NULL,
  registered_at  timestamptz,
  initiator_name text,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX compositing_engines_task ON compositing_engines (task_id);

-- Issue 15 §2: every published image's name is reserved by the task that publishes it, so two publishes
-- of one template in the same second never share a file (or VM) name. A reservation stays after the
-- task, whatever its end: a name once given is never given again, so a late compensation of one task
-- can never remove another task's image.
CREATE TABLE image_names (
  name        text PRIMARY KEY,
  image_id    uuid NOT NULL UNIQUE,
  reserved_at timestamptz NOT NULL DEFAULT now()
);
-- Windows shares compare file names without case: 'Office_…' and 'office_…' are one file there.
CREATE UNIQUE INDEX image_names_folded ON image_names (lower(name));

-- The names images were published under before: taken.
INSERT INTO image_names (name, image_id)
  SELECT DISTINCT ON (lower(name)) name, id FROM published_images ORDER BY lower(name), published_at
  ON CONFLICT DO NOTHING;

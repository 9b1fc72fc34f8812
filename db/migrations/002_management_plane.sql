-- The management plane's domain (ARCHITECTURE.md §3): layers, connectors' secrets and options, image
-- templates, published images, elastic layering records, directory sign-in, roles, tokens and audit.

-- Connector configurations gain encrypted secrets and the options every type shares.
ALTER TABLE connectors
  ADD COLUMN secrets              jsonb NOT NULL DEFAULT '{}'::jsonb,   -- name -> sealed value (db/secret-box)
  ADD COLUMN offload_compositing  boolean NOT NULL DEFAULT false,
  ADD COLUMN packaging_cache_gb   integer NOT NULL DEFAULT 0 CHECK (packaging_cache_gb >= 0),
  ADD COLUMN cache_hits           bigint NOT NULL DEFAULT 0,
  ADD COLUMN cache_lookups        bigint NOT NULL DEFAULT 0,
  ADD COLUMN post_publish_script  text;

CREATE TABLE layers (
  id           uuid PRIMARY KEY,
  type         text NOT NULL CHECK (type IN ('os', 'platform', 'app')),
  name         text NOT NULL UNIQUE,
  description  text NOT NULL DEFAULT '',
  -- App and platform layers are bound to one OS layer; an OS layer is bound to none.
  os_layer_id  uuid REFERENCES layers (id),
  -- The connector the layer is packaged with, if any (deleting that connector is refused).
  connector_id uuid REFERENCES connectors (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((type = 'os') = (os_layer_id IS NULL))
);

-- One sequence for every version of every layer: its value is the creation order that drives priority.
CREATE SEQUENCE layer_version_creation_seq;

CREATE TABLE layer_versions (
  id             uuid PRIMARY KEY,
  layer_id       uuid NOT NULL REFERENCES layers (id) ON DELETE CASCADE,
  version        text NOT NULL,
  description    text NOT NULL DEFAULT '',
  state          text NOT NULL DEFAULT 'Creating'
                 CHECK (state IN ('Creating', 'ActionRequired', 'Finalizing', 'Deployable', 'Failed', 'Deleted')),
  creation_seq   bigint NOT NULL DEFAULT nextval('layer_version_creation_seq') UNIQUE,
  size_bytes     bigint CHECK (size_bytes >= 0),
  sha256         text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  elastic_fit    text CHECK (elastic_fit IN ('fit', 'not_recommended', 'unfit')),
  scripts        jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (layer_id, version)
);

CREATE TABLE image_templates (
  id                   uuid PRIMARY KEY,
  name                 text NOT NULL UNIQUE,
  description          text NOT NULL DEFAULT '',
  os_version_id        uuid NOT NULL REFERENCES layer_versions (id),
  platform_version_id  uuid REFERENCES layer_versions (id),
  connector_id         uuid NOT NULL REFERENCES connectors (id),
  disk_size_gb         integer NOT NULL CHECK (disk_size_gb > 0),
  disk_format          text NOT NULL CHECK (disk_format IN ('VHD', 'VHDX', 'VMDK')),
  firmware             text NOT NULL CHECK (firmware IN ('BIOS', 'UEFI')),
  elastic_layering     text NOT NULL CHECK (elastic_layering IN ('none', 'app', 'app_and_user')),
  user_layer           text NOT NULL CHECK (user_layer IN ('none', 'full', 'office365')),
  sysprep              text NOT NULL CHECK (sysprep IN ('none', 'generalize', 'generalize_offline')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

-- The app layer versions of a template; priority comes from the versions' creation order, not from here.
CREATE TABLE image_template_app_versions (
  template_id  uuid NOT NULL REFERENCES image_templates (id) ON DELETE CASCADE,
  version_id   uuid NOT NULL REFERENCES layer_versions (id),
  PRIMARY KEY (template_id, version_id)
);

-- A published image keeps its own snapshot, so editing or deleting the template never changes it.
CREATE TABLE published_images (
  id                uuid PRIMARY KEY,
  name              text NOT NULL,
  template_id       uuid REFERENCES image_templates (id) ON DELETE SET NULL,
  template_snapshot jsonb NOT NULL,
  layer_versions    jsonb NOT NULL,
  output_location   text NOT NULL,
  sha256            text,
  conflict_report   jsonb NOT NULL DEFAULT '[]'::jsonb,
  published_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE storage_locations (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  share_path  text NOT NULL,
  ad_groups   text[] NOT NULL DEFAULT '{}',
  priority    integer NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE elastic_assignments (
  id                uuid PRIMARY KEY,
  layer_version_id  uuid NOT NULL REFERENCES layer_versions (id),
  users             text[] NOT NULL DEFAULT '{}',
  groups            text[] NOT NULL DEFAULT '{}',
  machine_patterns  text[] NOT NULL DEFAULT '{}',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Directory junctions: where users sign in from. The bind password is sealed like connector secrets.
CREATE TABLE directory_junctions (
  id                 uuid PRIMARY KEY,
  name               text NOT NULL UNIQUE,
  settings           jsonb NOT NULL,
  bind_password      jsonb,
  priority           integer NOT NULL DEFAULT 100,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Roles are granted to a directory user or group by DN (compared case-insensitively).
CREATE TABLE role_assignments (
  id              uuid PRIMARY KEY,
  role            text NOT NULL,
  principal_type  text NOT NULL CHECK (principal_type IN ('user', 'group')),
  principal       text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (role, principal_type, principal)
);

-- The built-in administrator (and room for more local accounts); password_hash is scrypt.
CREATE TABLE local_users (
  name           text PRIMARY KEY,
  password_hash  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Sessions and API tokens store only a SHA-256 of the secret the client holds.
CREATE TABLE sessions (
  token_hash  bytea PRIMARY KEY,
  identity    jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE api_tokens (
  id            uuid PRIMARY KEY,
  name          text NOT NULL,
  owner         text NOT NULL,
  identity      jsonb NOT NULL,
  token_hash    bytea NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  last_used_at  timestamptz
);

-- Failed sign-ins per login name, for lockout with growing backoff.
CREATE TABLE login_failures (
  login         text PRIMARY KEY,
  failures      integer NOT NULL,
  locked_until  timestamptz,
  last_failure  timestamptz NOT NULL DEFAULT now()
);

-- Audit log: append-only. The trigger refuses UPDATE and DELETE for every role, owner included.
CREATE TABLE audit_log (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  actor      text NOT NULL,
  roles      text[] NOT NULL DEFAULT '{}',
  action     text NOT NULL,
  object_id  text,
  outcome    text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  status     integer NOT NULL,
  detail     text
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

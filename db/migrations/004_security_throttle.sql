-- Issue 13 items 3 and 5: directory rights re-checked on use, and a sign-in throttle that cannot race.

-- When the directory last confirmed a session's or token's identity (groups, still present, enabled).
-- Older than LAMINA_DIRECTORY_RECHECK_SECONDS, the identity is looked up again before it is trusted.
ALTER TABLE sessions ADD COLUMN resolved_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE api_tokens ADD COLUMN resolved_at timestamptz NOT NULL DEFAULT now();

-- Tokens now live at most 90 days (api/tokens/tokens-router.ts); older grants of up to 365 shrink to that.
UPDATE api_tokens SET expires_at = least(expires_at, now() + interval '90 days') WHERE revoked_at IS NULL;

-- Failures are counted per user name and per client address (scope), reserved before the password check.
ALTER TABLE login_failures RENAME COLUMN login TO subject;
ALTER TABLE login_failures RENAME COLUMN last_failure TO last_attempt;
ALTER TABLE login_failures ADD COLUMN scope text NOT NULL DEFAULT 'user' CHECK (scope IN ('user', 'client'));
ALTER TABLE login_failures ALTER COLUMN scope DROP DEFAULT;
ALTER TABLE login_failures DROP CONSTRAINT login_failures_pkey, ADD PRIMARY KEY (scope, subject);
-- Rows unused for a day are purged by this index's range.
CREATE INDEX login_failures_last_attempt ON login_failures (last_attempt);

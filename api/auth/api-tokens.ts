import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Identity, StoredIdentity } from './identity';
import { hashOpaqueToken, newOpaqueToken } from './opaque-token';

/**
 * API tokens act as the user who made them (with that user's roles, looked up per request). A token
 * inherits when the directory last confirmed its maker (`resolvedAt`), so making one does not extend
 * how long an unchecked identity is trusted.
 */
export async function createApiToken(
  pool: Pool,
  identity: Identity,
  name: string,
  expiresInDays: number,
  resolvedAt: Date = new Date(),
): Promise<{ id: string; token: string; expiresAt: string }> {
  const id = randomUUID();
  const token = newOpaqueToken('lmt');
  const { rows } = await pool.query<{ expires_at: Date }>(
    `INSERT INTO api_tokens (id, name, owner, identity, token_hash, expires_at, resolved_at)
     VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 day', $7) RETURNING expires_at`,
    [id, name, identity.name, JSON.stringify(identity), hashOpaqueToken(token), expiresInDays, resolvedAt],
  );
  return { id, token, expiresAt: rows[0].expires_at.toISOString() };
}

/** The identity of a live token (not expired, not revoked), recording when it was last used. */
export async function findApiTokenIdentity(pool: Pool, token: string): Promise<StoredIdentity | undefined> {
  const { rows } = await pool.query<StoredIdentity>(
    `UPDATE api_tokens SET last_used_at = now()
      WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
      RETURNING identity, resolved_at AS "resolvedAt"`,
    [hashOpaqueToken(token)],
  );
  return rows[0];
}

/** Stores what the directory said when it was asked again. */
export async function saveApiTokenIdentity(pool: Pool, token: string, identity: Identity): Promise<void> {
  await pool.query('UPDATE api_tokens SET identity = $2, resolved_at = now() WHERE token_hash = $1', [
    hashOpaqueToken(token),
    JSON.stringify(identity),
  ]);
}

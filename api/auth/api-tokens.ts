import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Identity } from './identity';
import { hashOpaqueToken, newOpaqueToken } from './opaque-token';

/** API tokens act as the user who made them (with that user's roles, looked up per request). */
export async function createApiToken(
  pool: Pool,
  identity: Identity,
  name: string,
  expiresInDays: number,
): Promise<{ id: string; token: string; expiresAt: string }> {
  const id = randomUUID();
  const token = newOpaqueToken('lmt');
  const { rows } = await pool.query<{ expires_at: Date }>(
    `INSERT INTO api_tokens (id, name, owner, identity, token_hash, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 day') RETURNING expires_at`,
    [id, name, identity.name, JSON.stringify(identity), hashOpaqueToken(token), expiresInDays],
  );
  return { id, token, expiresAt: rows[0].expires_at.toISOString() };
}

/** The identity of a live token (not expired, not revoked), recording when it was last used. */
export async function findApiTokenIdentity(pool: Pool, token: string): Promise<Identity | undefined> {
  const { rows } = await pool.query<{ identity: Identity }>(
    `UPDATE api_tokens SET last_used_at = now()
      WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
      RETURNING identity`,
    [hashOpaqueToken(token)],
  );
  return rows[0]?.identity;
}

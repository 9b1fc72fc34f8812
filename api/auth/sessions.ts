import type { Pool } from 'pg';
import type { Identity, StoredIdentity } from './identity';
import { hashOpaqueToken, newOpaqueToken } from './opaque-token';

export const SESSION_COOKIE = 'lamina_session';

export async function createSession(pool: Pool, identity: Identity, ttlMs: number): Promise<string> {
  const token = newOpaqueToken('lms');
  await pool.query(
    `INSERT INTO sessions (token_hash, identity, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')`,
    [hashOpaqueToken(token), JSON.stringify(identity), ttlMs],
  );
  // Expired sessions are swept here rather than by a timer: sign-ins are rare and this keeps the table small.
  await pool.query('DELETE FROM sessions WHERE expires_at < now()');
  return token;
}

export async function findSession(pool: Pool, token: string): Promise<StoredIdentity | undefined> {
  const { rows } = await pool.query<StoredIdentity>(
    'SELECT identity, resolved_at AS "resolvedAt" FROM sessions WHERE token_hash = $1 AND expires_at > now()',
    [hashOpaqueToken(token)],
  );
  return rows[0];
}

/** Stores what the directory said when it was asked again. */
export async function saveSessionIdentity(pool: Pool, token: string, identity: Identity): Promise<void> {
  await pool.query('UPDATE sessions SET identity = $2, resolved_at = now() WHERE token_hash = $1', [
    hashOpaqueToken(token),
    JSON.stringify(identity),
  ]);
}

export async function endSession(pool: Pool, token: string): Promise<void> {
  await pool.query('DELETE FROM sessions WHERE token_hash = $1', [hashOpaqueToken(token)]);
}

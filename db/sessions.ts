import type { Pool } from 'pg';

/**
 * Sign-in sessions, stored by the hash of their token (the token itself is never stored). The identity
 * is the API's JSON value; `resolvedAt` is when the directory last confirmed it.
 */
export interface StoredSession<I> {
  identity: I;
  resolvedAt: Date;
}

export async function insertSession(
  pool: Pool,
  tokenHash: Buffer,
  identity: object,
  ttlMs: number,
): Promise<void> {
  await pool.query(
    `INSERT INTO sessions (token_hash, identity, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')`,
    [tokenHash, JSON.stringify(identity), ttlMs],
  );
}

export async function deleteExpiredSessions(pool: Pool): Promise<void> {
  await pool.query('DELETE FROM sessions WHERE expires_at < now()');
}

/** A session that has not expired. */
export async function findLiveSession<I>(
  pool: Pool,
  tokenHash: Buffer,
): Promise<StoredSession<I> | undefined> {
  const { rows } = await pool.query<StoredSession<I>>(
    'SELECT identity, resolved_at AS "resolvedAt" FROM sessions WHERE token_hash = $1 AND expires_at > now()',
    [tokenHash],
  );
  return rows[0];
}

/** Stores a re-checked identity, confirmed now. */
export async function updateSessionIdentity(pool: Pool, tokenHash: Buffer, identity: object): Promise<void> {
  await pool.query('UPDATE sessions SET identity = $2, resolved_at = now() WHERE token_hash = $1', [
    tokenHash,
    JSON.stringify(identity),
  ]);
}

export async function deleteSession(pool: Pool, tokenHash: Buffer): Promise<void> {
  await pool.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
}

import type { Pool } from 'pg';
import type { ListDefinition } from './list-page';
import type { StoredSession } from './sessions';

/** API tokens, stored by the hash of their token; the identity is the API's JSON value. */
export interface NewApiToken {
  id: string;
  name: string;
  owner: string;
  identity: object;
  tokenHash: Buffer;
  expiresInDays: number;
  resolvedAt: Date;
}

/** Stores a token; resolves when it expires. */
export async function insertApiToken(pool: Pool, token: NewApiToken): Promise<Date> {
  const { rows } = await pool.query<{ expires_at: Date }>(
    `INSERT INTO api_tokens (id, name, owner, identity, token_hash, expires_at, resolved_at)
     VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 day', $7) RETURNING expires_at`,
    [
      token.id,
      token.name,
      token.owner,
      JSON.stringify(token.identity),
      token.tokenHash,
      token.expiresInDays,
      token.resolvedAt,
    ],
  );
  return rows[0].expires_at;
}

/** The identity of a live token (not expired, not revoked), recording when it was last used. */
export async function useLiveApiToken<I>(
  pool: Pool,
  tokenHash: Buffer,
): Promise<StoredSession<I> | undefined> {
  const { rows } = await pool.query<StoredSession<I>>(
    `UPDATE api_tokens SET last_used_at = now()
      WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
      RETURNING identity, resolved_at AS "resolvedAt"`,
    [tokenHash],
  );
  return rows[0];
}

/** Stores a re-checked identity, confirmed now. */
export async function updateApiTokenIdentity(pool: Pool, tokenHash: Buffer, identity: object): Promise<void> {
  await pool.query('UPDATE api_tokens SET identity = $2, resolved_at = now() WHERE token_hash = $1', [
    tokenHash,
    JSON.stringify(identity),
  ]);
}

/**
 * Revokes a token of `owner` (any owner's when `anyOwner`); revoking twice keeps the first time.
 * False when no such token is visible to the caller.
 */
export async function revokeApiToken(
  pool: Pool,
  id: string,
  owner: string,
  anyOwner: boolean,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
      WHERE id = $1 AND (owner = $2 OR $3)`,
    [id, owner, anyOwner],
  );
  return rowCount !== 0;
}

/** Revokes a token at once, whoever made it (the token `lamina up` makes for its own run, when the run ends). */
export async function revokeApiTokenNow(pool: Pool, id: string): Promise<void> {
  await pool.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1', [id]);
}

/** API tokens as listed (never the hash), filterable by owner. */
export const apiTokenList: ListDefinition<object> = {
  select: `SELECT id, name, owner, created_at AS "createdAt", expires_at AS "expiresAt",
                  revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"
             FROM api_tokens`,
  filters: { owner: { column: 'owner', op: 'equals' } },
  orderBy: '"createdAt" DESC',
};

import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { insertApiToken, updateApiTokenIdentity, useLiveApiToken } from '../../db/api-tokens';
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
  const expiresAt = await insertApiToken(pool, {
    id,
    name,
    owner: identity.name,
    identity,
    tokenHash: hashOpaqueToken(token),
    expiresInDays,
    resolvedAt,
  });
  return { id, token, expiresAt: expiresAt.toISOString() };
}

/** The identity of a live token (not expired, not revoked), recording when it was last used. */
export function findApiTokenIdentity(pool: Pool, token: string): Promise<StoredIdentity | undefined> {
  return useLiveApiToken<Identity>(pool, hashOpaqueToken(token));
}

/** Stores what the directory said when it was asked again. */
export async function saveApiTokenIdentity(pool: Pool, token: string, identity: Identity): Promise<void> {
  await updateApiTokenIdentity(pool, hashOpaqueToken(token), identity);
}

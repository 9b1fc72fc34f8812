import type { Pool } from 'pg';
import {
  deleteExpiredSessions,
  deleteSession,
  findLiveSession,
  insertSession,
  updateSessionIdentity,
} from '../../db/sessions';
import type { Identity, StoredIdentity } from './identity';
import { hashOpaqueToken, newOpaqueToken } from './opaque-token';

export const SESSION_COOKIE = 'lamina_session';

export async function createSession(pool: Pool, identity: Identity, ttlMs: number): Promise<string> {
  const token = newOpaqueToken('lms');
  await insertSession(pool, hashOpaqueToken(token), identity, ttlMs);
  // Expired sessions are swept here rather than by a timer: sign-ins are rare and this keeps the table small.
  await deleteExpiredSessions(pool);
  return token;
}

export function findSession(pool: Pool, token: string): Promise<StoredIdentity | undefined> {
  return findLiveSession<Identity>(pool, hashOpaqueToken(token));
}

/** Stores what the directory said when it was asked again. */
export async function saveSessionIdentity(pool: Pool, token: string, identity: Identity): Promise<void> {
  await updateSessionIdentity(pool, hashOpaqueToken(token), identity);
}

export async function endSession(pool: Pool, token: string): Promise<void> {
  await deleteSession(pool, hashOpaqueToken(token));
}

import { createHash, randomBytes } from 'node:crypto';

/**
 * Session cookies and API tokens are random bearer secrets. Only their SHA-256 is stored, so a copy of
 * the database does not let anyone sign in. (A fast hash is right here: the secret has 256 bits of entropy.)
 */
export function newOpaqueToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashOpaqueToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

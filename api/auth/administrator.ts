import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { insertLocalUserIfAbsent, localUserPasswordHash, upsertLocalUser } from '../../db/local-users';
import { BUILT_IN_ADMINISTRATOR } from './identity';
import { hashPassword, verifyPassword } from './passwords';

/**
 * The built-in administrator exists from the first start, so the appliance can be configured before any
 * directory is joined. LAMINA_ADMIN_PASSWORD, when set, is the password (changing it changes it);
 * otherwise one is generated once and handed to `announce` to be printed.
 */
export async function ensureAdministrator(
  pool: Pool,
  password: string | undefined,
  announce: (line: string) => void,
): Promise<void> {
  const stored = await localUserPasswordHash(pool, BUILT_IN_ADMINISTRATOR);
  if (password !== undefined) {
    if (stored && (await verifyPassword(password, stored))) return;
    await upsertLocalUser(pool, BUILT_IN_ADMINISTRATOR, await hashPassword(password));
    return;
  }
  if (stored) return;
  const generated = randomBytes(18).toString('base64url');
  // Insert-if-absent: when two processes start together only the first password counts, so only it is printed.
  if (await insertLocalUserIfAbsent(pool, BUILT_IN_ADMINISTRATOR, await hashPassword(generated))) {
    announce(
      `built-in administrator created; password (shown once, set LAMINA_ADMIN_PASSWORD to choose one): ${generated}`,
    );
  }
}

export async function verifyLocalUser(pool: Pool, name: string, password: string): Promise<boolean> {
  const stored = await localUserPasswordHash(pool, name);
  return stored !== undefined ? verifyPassword(password, stored) : false;
}

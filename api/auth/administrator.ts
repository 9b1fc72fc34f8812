import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
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
  const { rows } = await pool.query<{ password_hash: string }>(
    'SELECT password_hash FROM local_users WHERE name = $1',
    [BUILT_IN_ADMINISTRATOR],
  );
  const stored = rows[0]?.password_hash;
  if (password !== undefined) {
    if (stored && (await verifyPassword(password, stored))) return;
    await pool.query(
      `INSERT INTO local_users (name, password_hash) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated_at = now()`,
      [BUILT_IN_ADMINISTRATOR, await hashPassword(password)],
    );
    return;
  }
  if (stored) return;
  const generated = randomBytes(18).toString('base64url');
  // DO NOTHING: when two processes start together only the first password counts, so only it is printed.
  const inserted = await pool.query(
    'INSERT INTO local_users (name, password_hash) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
    [BUILT_IN_ADMINISTRATOR, await hashPassword(generated)],
  );
  if (inserted.rowCount === 1) {
    announce(
      `built-in administrator created; password (shown once, set LAMINA_ADMIN_PASSWORD to choose one): ${generated}`,
    );
  }
}

export async function verifyLocalUser(pool: Pool, name: string, password: string): Promise<boolean> {
  const { rows } = await pool.query<{ password_hash: string }>(
    'SELECT password_hash FROM local_users WHERE name = $1',
    [name],
  );
  return rows[0] ? verifyPassword(password, rows[0].password_hash) : false;
}

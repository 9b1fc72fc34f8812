import type { Pool } from 'pg';
import type { SealedSecret, SecretBox } from '../../config/secret-box';
import type { Junction } from '../auth/directory';
import { junctionSettings, type JunctionSettings } from './junction-settings';

/** Every junction with its bind password opened, in the order sign-in tries them. */
export async function loadJunctions(pool: Pool, secrets: SecretBox): Promise<Junction[]> {
  const { rows } = await pool.query<{
    id: string;
    name: string;
    settings: JunctionSettings;
    bind_password: SealedSecret | null;
  }>('SELECT id, name, settings, bind_password FROM directory_junctions ORDER BY priority, name');
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    settings: junctionSettings.parse(row.settings),
    bindPassword: row.bind_password ? secrets.open(row.bind_password) : '',
  }));
}

import type { Pool } from 'pg';
import type { SecretBox } from '../../config/secret-box';
import { listJunctionsWithSecrets } from '../../db/directory-junctions';
import type { Junction } from '../auth/directory';
import { junctionSettings } from './junction-settings';

/** Every junction with its bind password opened, in the order sign-in tries them. */
export async function loadJunctions(pool: Pool, secrets: SecretBox): Promise<Junction[]> {
  const rows = await listJunctionsWithSecrets(pool);
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    settings: junctionSettings.parse(row.settings),
    bindPassword: row.bindPassword ? secrets.open(row.bindPassword) : '',
  }));
}

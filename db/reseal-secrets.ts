import type { Pool } from 'pg';
import type { SealedSecret, SecretBox } from '../config/secret-box';
import { withTransaction } from './transaction';

/**
 * Re-encrypts every stored secret (connector secrets, directory bind passwords) with the box's sealing
 * key, in one transaction with the rows locked. Returns how many secrets moved.
 */
export async function resealAllSecrets(pool: Pool, box: SecretBox): Promise<number> {
  return withTransaction(pool, async (db) => {
    let count = 0;
    const reseal = (sealed: SealedSecret) => {
      count++;
      return box.seal(box.open(sealed));
    };
    const connectors = await db.query<{ id: string; secrets: Record<string, SealedSecret> }>(
      'SELECT id, secrets FROM connectors FOR UPDATE',
    );
    for (const row of connectors.rows) {
      const secrets = Object.fromEntries(Object.entries(row.secrets).map(([field, s]) => [field, reseal(s)]));
      await db.query('UPDATE connectors SET secrets = $2 WHERE id = $1', [row.id, JSON.stringify(secrets)]);
    }
    const junctions = await db.query<{ id: string; bind_password: SealedSecret }>(
      'SELECT id, bind_password FROM directory_junctions WHERE bind_password IS NOT NULL FOR UPDATE',
    );
    for (const row of junctions.rows) {
      await db.query('UPDATE directory_junctions SET bind_password = $2 WHERE id = $1', [
        row.id,
        JSON.stringify(reseal(row.bind_password)),
      ]);
    }
    return count;
  });
}

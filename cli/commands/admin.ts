import { loadConfig } from '../../config/env';
import { rotateMasterKey } from '../../config/master-key';
import { createPool } from '../../db/pool';
import { resealAllSecrets } from '../../db/reseal-secrets';
import { UsageError, type CliCommand } from '../command';

const USAGE = [
  'Usage: lamina admin rotate-key',
  '',
  'Generates a new AES-256-GCM master key, re-encrypts every connector secret and directory bind',
  'password under it in one transaction (DATABASE_URL), then makes it the key file',
  '(LAMINA_MASTER_KEY_FILE, default <LAMINA_DATA_DIR>/master.key; the old key is kept as .previous).',
  'Restart running API and worker processes afterwards so they seal with the new key.',
  'Not available when the key comes from LAMINA_MASTER_KEY.',
].join('\n');

export const adminCommand: CliCommand = {
  usage: USAGE,
  async run(args) {
    if (args.length !== 1 || args[0] !== 'rotate-key')
      throw new UsageError(`expected 'rotate-key'\n\n${USAGE}`);
    const config = loadConfig();
    if (!config.databaseUrl)
      throw new UsageError('DATABASE_URL must be set: the secrets to re-encrypt live there');
    const pool = createPool(config.databaseUrl);
    try {
      const rotation = await rotateMasterKey(config, (box) => resealAllSecrets(pool, box));
      console.log(
        `[lamina] master key ${rotation.from} -> ${rotation.to}: ${rotation.resealed} secret(s) re-encrypted`,
      );
      return 0;
    } finally {
      await pool.end();
    }
  },
};

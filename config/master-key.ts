import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { keyId, MASTER_KEY_BYTES, SecretBox } from './secret-box';
import type { LaminaConfig } from './env';

/** While a rotation runs, the new key waits beside the current one under this suffix. */
export const NEXT_KEY_SUFFIX = '.next';
/**
 * After a rotation the old key stays under this suffix, opening only: an API or worker still running with
 * the old key may seal a value before it restarts, and that value must stay readable until the next rotation.
 */
export const PREVIOUS_KEY_SUFFIX = '.previous';

export function readKeyFile(file: string): Buffer {
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== MASTER_KEY_BYTES)
    throw new Error(`${file} does not hold a ${MASTER_KEY_BYTES}-byte base64 key`);
  return key;
}

/** Writes a fresh random key readable by the owner only; `wx` refuses to overwrite an existing key. */
export function createKeyFile(file: string): Buffer {
  const key = randomBytes(MASTER_KEY_BYTES);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

function optionalKeyFile(file: string): Buffer[] {
  return fs.existsSync(file) ? [readKeyFile(file)] : [];
}

/**
 * The master key ring: LAMINA_MASTER_KEY, or the key file (made at first start), which seals. A `.next`
 * key left by an interrupted `lamina admin rotate-key` and the `.previous` one only open. The secret box
 * and the Temporal payload codec (config/payload-codec.ts) are both built from this ring.
 */
export function loadMasterKeys(config: Pick<LaminaConfig, 'masterKey'>): Buffer[] {
  const { base64, file } = config.masterKey;
  if (base64) return [Buffer.from(base64, 'base64')];
  const current = fs.existsSync(file) ? readKeyFile(file) : createKeyFile(file);
  return [
    current,
    ...optionalKeyFile(file + NEXT_KEY_SUFFIX),
    ...optionalKeyFile(file + PREVIOUS_KEY_SUFFIX),
  ];
}

export function loadSecretBox(config: Pick<LaminaConfig, 'masterKey'>): SecretBox {
  return new SecretBox(loadMasterKeys(config));
}

export interface Rotation {
  from: string;
  to: string;
  resealed: number;
}

/**
 * Moves every secret to a new master key. Crash-safe at each step: the new key is written (as `.next`)
 * before any row uses it, all rows move in one transaction, and only then does the new key become the
 * key file (the old one kept as `.previous`). Rerun after a crash, it finishes with the same `.next` key.
 */
export async function rotateMasterKey(
  config: Pick<LaminaConfig, 'masterKey'>,
  reseal: (box: SecretBox) => Promise<number>,
): Promise<Rotation> {
  const { base64, file } = config.masterKey;
  if (base64) {
    throw new Error(
      'the master key comes from LAMINA_MASTER_KEY, which this command cannot change: unset it and put the ' +
        'key in a key file (LAMINA_MASTER_KEY_FILE) to rotate it here',
    );
  }
  if (!fs.existsSync(file)) throw new Error(`no master key file at ${file}: start the appliance once first`);
  const current = readKeyFile(file);
  const nextFile = file + NEXT_KEY_SUFFIX;
  const next = fs.existsSync(nextFile) ? readKeyFile(nextFile) : createKeyFile(nextFile);
  const resealed = await reseal(
    new SecretBox([next, current, ...optionalKeyFile(file + PREVIOUS_KEY_SUFFIX)]),
  );
  fs.copyFileSync(file, file + PREVIOUS_KEY_SUFFIX);
  fs.chmodSync(file + PREVIOUS_KEY_SUFFIX, 0o600);
  fs.renameSync(nextFile, file);
  return { from: keyId(current), to: keyId(next), resealed };
}

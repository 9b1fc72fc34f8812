import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MASTER_KEY_BYTES, SecretBox } from '../db/secret-box';
import type { LaminaConfig } from './env';

/** While a rotation runs, the new key waits beside the current one under this suffix. */
export const NEXT_KEY_SUFFIX = '.next';

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

/**
 * The master key ring: LAMINA_MASTER_KEY, or the key file (made at first start). A `.next` key file
 * left by an interrupted `lamina admin rotate-key` joins the ring so secrets already moved still open.
 */
export function loadSecretBox(config: Pick<LaminaConfig, 'masterKey'>): SecretBox {
  const { base64, file } = config.masterKey;
  if (base64) return new SecretBox([Buffer.from(base64, 'base64')]);
  const current = fs.existsSync(file) ? readKeyFile(file) : createKeyFile(file);
  const next = file + NEXT_KEY_SUFFIX;
  return new SecretBox(fs.existsSync(next) ? [current, readKeyFile(next)] : [current]);
}

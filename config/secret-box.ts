import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * A secret as stored in Postgres: AES-256-GCM ciphertext with its nonce and tag, and the id of the key
 * that sealed it, so a key rotation interrupted half-way can still open every row (see `SecretBox`).
 */
export interface SealedSecret {
  kid: string;
  iv: string;
  tag: string;
  data: string;
}

export const MASTER_KEY_BYTES = 32;

/** A short, non-secret fingerprint of a key: first 16 hex digits of its SHA-256. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * Seals with the first key, opens with whichever key sealed the value. Holding more than one key only
 * happens while `lamina admin rotate-key` is moving secrets to a new key.
 */
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly sealingKey: Buffer;

  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one key');
    for (const key of keys) {
      if (key.length !== MASTER_KEY_BYTES) throw new Error(`master key must be ${MASTER_KEY_BYTES} bytes`);
    }
    this.sealingKey = keys[0];
    this.keys = new Map(keys.map((k) => [keyId(k), k]));
  }

  get sealingKeyId(): string {
    return keyId(this.sealingKey);
  }

  seal(plaintext: string): SealedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealingKey, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      kid: this.sealingKeyId,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  open(sealed: SealedSecret): string {
    const key = this.keys.get(sealed.kid);
    if (!key) {
      throw new Error(`secret was sealed with master key ${sealed.kid}, which this appliance does not hold`);
    }
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString(
      'utf8',
    );
  }
}

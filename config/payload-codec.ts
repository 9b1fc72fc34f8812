import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { keyId, MASTER_KEY_BYTES } from './secret-box';

/** The `encoding` of a payload this codec sealed; anything else passes through decode unchanged. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata naming the key that sealed a payload, so payloads from before a key rotation still open. */
export const KEY_ID_METADATA = 'encryption-key-id';
/**
 * HKDF info label: the codec key is derived from the master key, not the master key itself, so the
 * secret box and the codec never use one key for two purposes (and a key id never names both).
 */
const CODEC_KEY_INFO = 'lamina/temporal-payload-codec/v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A payload that cannot be opened: altered in history, or sealed under a key this appliance lacks. */
export class PayloadDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadDecryptionError';
  }
}

/**
 * The environment variable that hands a Compositing Engine the codec keys (base64, comma-separated,
 * the sealing key first): an engine is a worker of the deployment and must open and seal its task's
 * payloads, but it gets only these derived keys, never the master key, which also opens every secret
 * the appliance stores (connector passwords, tokens). An engine VM's launch environment is readable
 * on its platform (vSphere guestinfo, Azure custom data) by whoever can read the VM's settings.
 */
export const PAYLOAD_KEYS_VARIABLE = 'LAMINA_PAYLOAD_KEYS';

export function deriveCodecKey(masterKey: Buffer): Buffer {
  if (masterKey.length !== MASTER_KEY_BYTES) throw new Error(`master key must be ${MASTER_KEY_BYTES} bytes`);
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), CODEC_KEY_INFO, MASTER_KEY_BYTES));
}

/** The value of PAYLOAD_KEYS_VARIABLE for a master key ring: its codec keys, in the ring's order. */
export function encodePayloadKeys(masterKeys: Buffer[]): string {
  return masterKeys.map((key) => deriveCodecKey(key).toString('base64')).join(',');
}

/** The codec of an engine, from the value of PAYLOAD_KEYS_VARIABLE (encodePayloadKeys). */
export function codecFromPayloadKeys(value: string): PayloadEncryptionCodec {
  const keys = value.split(',').map((item) => Buffer.from(item.trim(), 'base64'));
  if (keys.some((key) => key.length !== MASTER_KEY_BYTES)) {
    throw new Error(
      `${PAYLOAD_KEYS_VARIABLE} must hold ${MASTER_KEY_BYTES}-byte base64 keys, comma-separated`,
    );
  }
  return new PayloadEncryptionCodec(keys, 'codec');
}

const text = (value: string) => new TextEncoder().encode(value);
const readText = (value: Uint8Array | null | undefined) =>
  value ? Buffer.from(value).toString('utf8') : undefined;

export function isEncrypted(payload: Payload): boolean {
  return readText(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING;
}

/**
 * AES-256-GCM over every workflow and activity payload (inputs, results, signals, heartbeats, the task
 * summary), so Temporal's history holds no template names, paths or settings in clear text. A sealed
 * payload is the whole original payload (metadata and data, protobuf-encoded) as `nonce | ciphertext |
 * tag`, with the key id as additional data so the id cannot be swapped. Seals with the first master
 * key of the ring and opens with whichever one the payload names (the ring of `loadMasterKeys`).
 * Payloads without the encrypted encoding (histories recorded before this codec) decode as they are.
 */
export class PayloadEncryptionCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  private readonly sealingKeyId: string;

  /** `keys`: the master key ring (the codec keys are derived from it), or codec keys already derived. */
  constructor(keys: Buffer[], kind: 'master' | 'codec' = 'master') {
    if (keys.length === 0) throw new Error('the payload codec needs at least one key');
    const derived = kind === 'master' ? keys.map(deriveCodecKey) : keys;
    this.keys = new Map(derived.map((key) => [keyId(key), key]));
    this.sealingKeyId = keyId(derived[0]);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.seal(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload, index) => (isEncrypted(payload) ? this.open(payload, index) : payload));
  }

  private seal(payload: Payload): Payload {
    const key = this.keys.get(this.sealingKeyId)!;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(text(this.sealingKeyId));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: text(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: text(this.sealingKeyId),
      },
      data: sealed,
    };
  }

  private open(payload: Payload, index: number): Payload {
    const kid = readText(payload.metadata?.[KEY_ID_METADATA]);
    if (!kid)
      throw new PayloadDecryptionError(`payload ${index} is encrypted but names no key (${KEY_ID_METADATA})`);
    const key = this.keys.get(kid);
    if (!key) {
      throw new PayloadDecryptionError(
        `payload ${index} was encrypted with key ${kid}, which this appliance does not hold ` +
          `(its master key was rotated away, or the payload is from another appliance)`,
      );
    }
    const data = Buffer.from(payload.data ?? []);
    if (data.length < NONCE_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(`payload ${index} is too short to be an encrypted payload`);
    }
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
    decipher.setAAD(text(kid));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new PayloadDecryptionError(
        `payload ${index} failed authentication under key ${kid}: it was altered after it was encrypted`,
      );
    }
    return temporal.api.common.v1.Payload.decode(plain);
  }
}

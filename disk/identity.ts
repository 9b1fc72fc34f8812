import { createHash, randomBytes } from 'node:crypto';

/**
 * Where a writer gets the ids and timestamps a format stores (VHD unique id and timestamp, VHDX
 * GUIDs, VMDK CID, GPT and MBR disk ids). By default they are random and current. Given a seed
 * (say, the image id), every id is derived from it and every timestamp is the format's epoch,
 * so the same data and seed give a byte-identical file — what ARCHITECTURE §5 asks of the
 * compositor.
 */
export class DiskIdentity {
  private constructor(private readonly seed: string | undefined) {}

  static of(seed?: string): DiskIdentity {
    return new DiskIdentity(seed);
  }

  /** `length` (≤ 32) bytes for one named purpose, e.g. "vhdx data write guid". */
  bytes(purpose: string, length: number): Buffer {
    if (this.seed === undefined) return randomBytes(length);
    return createHash('sha256').update(`${this.seed}\0${purpose}`).digest().subarray(0, length);
  }

  /** A version-4-shaped GUID in on-disk (mixed-endian) byte order. */
  guid(purpose: string): Buffer {
    const b = this.bytes(purpose, 16);
    b[7] = (b[7] & 0x0f) | 0x40; // version nibble sits in the high byte of the little-endian third field
    b[8] = (b[8] & 0x3f) | 0x80;
    return b;
  }

  /** Whole seconds from `epochMs` to now, or 0 when derived from a seed. */
  secondsSince(epochMs: number): number {
    return this.seed === undefined ? Math.max(0, Math.floor((Date.now() - epochMs) / 1000)) : 0;
  }
}

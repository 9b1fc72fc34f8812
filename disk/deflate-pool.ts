import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Compresses grains on every core. Each job is a batch of equal-size grains; each comes back as a
 * VMDK grain marker (LBA, compressed size) plus zlib data, padded to whole sectors, so the caller
 * appends the batch to the file with one write.
 *
 * The worker is plain JavaScript evaluated from this string so it runs the same under ts-jest and
 * from dist/ without a separate build output to locate.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const PROBE_BYTES = 4096;
const counts = new Uint32Array(256);
/** Shannon entropy of the sample in bits per byte: random or already compressed data is near 8. */
function entropy(sample) {
  counts.fill(0);
  for (let i = 0; i < sample.length; i++) counts[sample[i]]++;
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    if (counts[b] === 0) continue;
    const p = counts[b] / sample.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}
parentPort.on('message', ({ id, data, grainBytes, lbas, level }) => {
  const input = Buffer.from(data);
  const pieces = [];
  const offsets = [];
  let length = 0;
  for (let i = 0; i < lbas.length; i++) {
    const grain = input.subarray(i * grainBytes, (i + 1) * grainBytes);
    // zlib ends up storing incompressible data anyway, after a futile match search that costs most
    // of its time. The byte entropy of the grain's first 4 KiB spots such data (random, or already
    // compressed: 7.9+ bits per byte; binaries and text sit well below) and stores it at once.
    const incompressible = entropy(grain.subarray(0, PROBE_BYTES)) > 7.8;
    const compressed = zlib.deflateSync(grain, { level: incompressible ? 0 : level });
    const total = Math.ceil((12 + compressed.length) / 512) * 512;
    const marker = Buffer.alloc(12);
    marker.writeBigUInt64LE(BigInt(lbas[i]), 0);
    marker.writeUInt32LE(compressed.length, 8);
    offsets.push(length);
    pieces.push(marker, compressed, Buffer.alloc(total - 12 - compressed.length));
    length += total;
  }
  const out = Buffer.concat(pieces, length);
  const bytes = out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
  parentPort.postMessage({ id, bytes, offsets }, [bytes]);
});
`;

export interface CompressedBatch {
  /** Marker + compressed grain, padded to 512, for every grain of the batch, back to back. */
  bytes: Buffer;
  /** Byte offset of each grain's marker within `bytes`. */
  offsets: number[];
}

interface Pending {
  resolve: (batch: CompressedBatch) => void;
  reject: (err: Error) => void;
}

export class DeflatePool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(
    private readonly level: number,
    size = availableParallelism(),
  ) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.on(
        'message',
        ({ id, bytes, offsets }: { id: number; bytes: ArrayBuffer; offsets: number[] }) => {
          const job = this.pending.get(id);
          this.pending.delete(id);
          job?.resolve({ bytes: Buffer.from(bytes), offsets });
        },
      );
      worker.on('error', (err) => this.fail(err));
      return worker;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** Compresses `count` grains of `grainBytes` held in `data` (ownership passes to the worker). */
  compress(data: ArrayBuffer, grainBytes: number, lbas: number[]): Promise<CompressedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[id % this.workers.length].postMessage({ id, data, grainBytes, lbas, level: this.level }, [
        data,
      ]);
    });
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const job of this.pending.values()) job.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.fail(new Error('deflate pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

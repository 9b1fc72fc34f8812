import { availableParallelism } from 'node:os';
import { loadNativeAddon } from '../lib/native-addon';

/**
 * Compresses vmdk-stream grains in native code on libuv's thread pool (native/io/grain-deflate.cc).
 * Each job is a batch of equal-size grains; each comes back as a VMDK grain marker (LBA,
 * compressed size) plus zlib data, padded to whole sectors, so the caller appends the batch with
 * one write. Grains of near-random bytes are stored, not searched for matches.
 *
 * Batch buffers are recycled: the caller fills one from `takeInput`, and `release` on the result
 * returns it and the output once the bytes are appended. Fresh memory for every batch cost more
 * than the compression (each new page is a fault on a VM whose host reclaims idle memory).
 */

interface GrainAddon {
  deflateGrains(
    input: Buffer,
    grainBytes: number,
    lbas: number[],
    level: number,
    output: Buffer,
  ): Promise<{ length: number; offsets: number[] }>;
  grainRecordBound(grainBytes: number, level: number): number;
}

export interface CompressedBatch {
  /** Marker + compressed grain, padded to 512, for every grain of the batch, back to back. */
  bytes: Buffer;
  /** Byte offset of each grain's marker within `bytes`. */
  offsets: number[];
  /** Gives the batch's buffers back for reuse; `bytes` must not be used afterwards. */
  release(): void;
}

/**
 * Jobs at once: one per core, but leaving two of libuv's threads (4 unless UV_THREADPOOL_SIZE
 * says otherwise) to the file reads and writes the conversion waits on.
 */
function defaultParallelism(): number {
  const threadPool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism(), threadPool - 2));
}

export class GrainCompressor {
  private readonly addon = loadNativeAddon<GrainAddon>('lamina_io');
  private readonly recordBytes: number;
  private readonly freeInputs: Buffer[] = [];
  private readonly freeOutputs: Buffer[] = [];
  readonly parallelism: number;

  constructor(
    private readonly level: number,
    readonly grainBytes: number,
    readonly batchGrains: number,
    parallelism = defaultParallelism(),
  ) {
    this.recordBytes = this.addon.grainRecordBound(grainBytes, level);
    this.parallelism = Math.max(1, parallelism);
  }

  /** A buffer for one batch of grains, back to back. */
  takeInput(): Buffer {
    return this.freeInputs.pop() ?? Buffer.allocUnsafe(this.batchGrains * this.grainBytes);
  }

  /** Compresses the grains at `lbas` (sectors), held in order in `input` (from takeInput). */
  async compress(input: Buffer, lbas: number[]): Promise<CompressedBatch> {
    const output = this.freeOutputs.pop() ?? Buffer.allocUnsafe(this.batchGrains * this.recordBytes);
    try {
      const { length, offsets } = await this.addon.deflateGrains(
        input,
        this.grainBytes,
        lbas,
        this.level,
        output,
      );
      return {
        bytes: output.subarray(0, length),
        offsets,
        release: () => {
          this.freeInputs.push(input);
          this.freeOutputs.push(output);
        },
      };
    } catch (err) {
      this.freeInputs.push(input);
      this.freeOutputs.push(output);
      throw err;
    }
  }
}

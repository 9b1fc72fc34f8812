/**
 * The VMDK streamOptimized writer: written front to back in one pass, as OVF export and ESXi
 * import expect. Header (grain directory "at end"), descriptor, then per grain a marker and its
 * deflated data, each grain table behind a GT marker once the stream has passed its range, then
 * the grain directory, the footer (a header copy that locates it) and the end-of-stream marker.
 * Deflate runs in native code on several threads; batches are written in order as they come back.
 */
import { BlockTable } from '../block-table';
import type { DiskDriver } from '../driver';
import { CompressedBatch, GrainCompressor } from '../grain-compressor';
import { OutputFile, StagedAppender } from '../file-io';
import { DiskIdentity } from '../identity';
import { assertWriteInside, DiskWriter, roundUp, SECTOR_SIZE, WriterOptions } from '../types';
import { isZero } from '../zero';
import {
  buildDescriptor,
  buildHeader,
  DESCRIPTOR_SECTORS,
  FLAG,
  GD_AT_END,
  GRAIN_BYTES,
  GRAIN_SECTORS,
  grainTable,
  GT_BYTES,
  GTES_PER_GT,
  MARKER,
  SparseHeader,
  vmdkSize,
} from './vmdk';

/** Grains per compression job: big enough to amortise messaging, small enough to keep memory flat. */
const BATCH_GRAINS = 32;
/** zlib level; qemu uses the default (6) too, so the benchmark compares like with like. */
export const DEFAULT_COMPRESSION_LEVEL = 6;

function metadataMarker(type: number, sectors: number): Buffer {
  const m = Buffer.alloc(SECTOR_SIZE);
  m.writeBigUInt64LE(BigInt(sectors), 0);
  m.writeUInt32LE(type, 12);
  return m;
}

class VmdkStreamWriter implements DiskWriter {
  readonly format = 'vmdk-stream';
  private readonly table: BlockTable;
  private readonly capacitySectors: number;
  private readonly overheadSectors = roundUp(1 + DESCRIPTOR_SECTORS, GRAIN_SECTORS);
  /** Everything after the header and descriptor is appended, front to back. */
  private readonly stream: StagedAppender;
  /** The grain being filled: writes need not be grain-aligned, so it is held until the stream moves past it. */
  private grain = -1;
  private grainData = Buffer.alloc(GRAIN_BYTES);
  /** Whether grainData holds anything (else it is all zeros). */
  private grainWritten = false;
  /** Grains waiting for a compression job. */
  private batch: { data: Buffer; lbas: number[] } | undefined;
  /** Compression jobs in stream order; each is appended to the file when it and all before it are done. */
  private readonly inFlight: { grains: number[]; result: Promise<CompressedBatch> }[] = [];
  /** Grain tables already written; a grain table is emitted once the stream leaves its range. */
  private tablesWritten = 0;
  /** The last accepted write; a failed one fails every write queued behind it. */
  private queue: Promise<void> = Promise.resolve();
  /** Grain directory: sector of each written grain table. */
  private readonly gd: number[] = [];

  constructor(
    private readonly out: OutputFile,
    readonly virtualSize: number,
    private readonly descriptor: Buffer,
    private readonly compressor: GrainCompressor,
  ) {
    this.capacitySectors = virtualSize / SECTOR_SIZE;
    this.table = new BlockTable(Math.ceil(virtualSize / GRAIN_BYTES));
    this.stream = new StagedAppender(out, this.overheadSectors * SECTOR_SIZE);
  }

  /** Writes run one after another: each may wait on compression, and the stream must stay in order. */
  write(data: Buffer, offset: number): Promise<void> {
    this.queue = this.queue.then(() => this.append(data, offset));
    return this.queue;
  }

  private async append(data: Buffer, offset: number): Promise<void> {
    assertWriteInside(data, offset, this.virtualSize);
    if (offset < Math.max(0, this.grain) * GRAIN_BYTES) {
      throw new RangeError(
        `vmdk-stream is written front to back: write at ${offset} comes after grain ${this.grain}`,
      );
    }
    for (let done = 0; done < data.length;) {
      const position = offset + done;
      const grain = Math.floor(position / GRAIN_BYTES);
      const inGrain = position - grain * GRAIN_BYTES;
      const length = Math.min(GRAIN_BYTES - inGrain, data.length - done);
      if (grain !== this.grain) await this.moveTo(grain);
      if (length === GRAIN_BYTES) {
        // A whole grain (a copy's chunks are made of them) goes straight into the batch; the
        // stream moves past it, so nothing may be written into it afterwards.
        const whole = data.subarray(done, done + length);
        if (!isZero(whole)) await this.addToBatch(grain, whole);
        this.grain = grain + 1;
      } else {
        data.copy(this.grainData, inGrain, done, done + length);
        this.grainWritten = true;
      }
      done += length;
    }
  }

  /** Seals the current grain into the batch and starts `grain` zero-filled. */
  private async moveTo(grain: number): Promise<void> {
    if (this.grainWritten) {
      if (!isZero(this.grainData)) await this.addToBatch(this.grain, this.grainData);
      this.grainData.fill(0);
      this.grainWritten = false;
    }
    this.grain = grain;
  }

  private async addToBatch(grain: number, data: Buffer): Promise<void> {
    this.batch ??= { data: this.compressor.takeInput(), lbas: [] };
    data.copy(this.batch.data, this.batch.lbas.length * GRAIN_BYTES);
    this.batch.lbas.push(grain * GRAIN_SECTORS);
    if (this.batch.lbas.length === BATCH_GRAINS) await this.dispatch();
  }

  private async dispatch(): Promise<void> {
    const batch = this.batch;
    this.batch = undefined;
    if (!batch) return;
    const result = this.compressor.compress(batch.data, batch.lbas);
    result.catch(() => undefined); // observed when drained; keeps a failure from being "unhandled" meanwhile
    this.inFlight.push({ grains: batch.lbas.map((lba) => lba / GRAIN_SECTORS), result });
    // Two jobs per thread keep every thread busy while bounding memory.
    while (this.inFlight.length > 2 * this.compressor.parallelism) await this.appendOldest();
  }

  private async appendOldest(): Promise<void> {
    const job = this.inFlight.shift();
    if (!job) return;
    const { bytes, offsets, release } = await job.result;
    const firstGrain = job.grains[0];
    await this.writeFinishedTables(firstGrain);
    const at = this.stream.position;
    job.grains.forEach((grain, i) => this.table.set(grain, at + offsets[i]));
    await this.stream.append(bytes);
    release();
  }

  /** Writes the grain tables of every range the stream has fully passed before `grain`. */
  private async writeFinishedTables(grain: number): Promise<void> {
    const passed = Math.floor(grain / GTES_PER_GT);
    if (passed <= this.tablesWritten) return;
    for (let gt = this.tablesWritten; gt < passed; gt++)
      await this.appendTable(gt, grainTable(this.table, gt));
    this.tablesWritten = passed;
  }

  private async appendTable(gt: number, entries: Buffer | undefined): Promise<void> {
    if (!entries) return; // an empty range has no table; its directory entry stays 0
    this.gd[gt] = this.stream.position / SECTOR_SIZE + 1;
    await this.stream.append(Buffer.concat([metadataMarker(MARKER.gt, GT_BYTES / SECTOR_SIZE), entries]));
  }

  private header(gdSector: bigint): Buffer {
    const h: SparseHeader = {
      version: 3,
      flags: FLAG.newlineTest | FLAG.compressed | FLAG.markers,
      capacitySectors: this.capacitySectors,
      grainSectors: GRAIN_SECTORS,
      descriptorSector: 1,
      descriptorSectors: DESCRIPTOR_SECTORS,
      gtesPerGt: GTES_PER_GT,
      redundantGdSector: 0,
      gdSector,
      overheadSectors: this.overheadSectors,
    };
    return buildHeader(h);
  }

  async finish(): Promise<void> {
    try {
      await this.queue;
      await this.moveTo(this.table.blockCount);
      await this.dispatch();
      while (this.inFlight.length > 0) await this.appendOldest();
      await this.writeFinishedTables(this.table.blockCount + GTES_PER_GT - 1);
      const gtCount = Math.ceil(this.table.blockCount / GTES_PER_GT);
      const gd = Buffer.alloc(roundUp(gtCount * 4, SECTOR_SIZE));
      this.gd.forEach((sector, gt) => gd.writeUInt32LE(sector, gt * 4));
      const gdSector = this.stream.position / SECTOR_SIZE + 1;
      const tail = Buffer.concat([
        metadataMarker(MARKER.gd, gd.length / SECTOR_SIZE),
        gd,
        metadataMarker(MARKER.footer, 1),
        this.header(BigInt(gdSector)),
        metadataMarker(MARKER.eos, 0),
      ]);
      await this.out.writeSegments([
        { fileOffset: 0, data: this.header(GD_AT_END) },
        { fileOffset: SECTOR_SIZE, data: this.descriptor },
      ]);
      await this.stream.append(tail);
      await this.stream.flush();
      await this.out.commit();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    // Jobs still running own their buffers until they end; their results are dropped.
    await Promise.allSettled(this.inFlight.map((job) => job.result));
    await this.out.discard();
  }
}

async function createVmdkStreamWriter(
  outPath: string,
  options: WriterOptions,
  identity: DiskIdentity,
): Promise<DiskWriter> {
  const size = vmdkSize(options.virtualSize);
  const descriptor = buildDescriptor('streamOptimized', size / SECTOR_SIZE, outPath, identity);
  const out = await OutputFile.create(outPath);
  return new VmdkStreamWriter(
    out,
    size,
    descriptor,
    new GrainCompressor(
      options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL,
      GRAIN_BYTES,
      BATCH_GRAINS,
      options.threads,
    ),
  );
}

/** streamOptimized, written in one pass for OVF export and ESXi import. Read by vmdkDriver. */
export const vmdkStreamDriver: DiskDriver = {
  name: 'vmdk-stream',
  createWriter: createVmdkStreamWriter,
  blockMapped: false,
};

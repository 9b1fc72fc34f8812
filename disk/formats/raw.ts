import type { DiskDriver } from '../driver';
import { InputFile, OutputFile } from '../file-io';
import {
  assertReadInside,
  assertWriteInside,
  DiskFormat,
  DiskWriter,
  Extent,
  FileRange,
  roundUp,
  SECTOR_SIZE,
  VirtualDisk,
} from '../types';
import { isZero } from '../zero';
import { fileDataRanges } from './raw-extents';

/**
 * A disk whose guest bytes sit in the file as is, starting at offset 0: raw images, and fixed VHDs
 * (whose footer follows the data). Holes in the sparse file are the unallocated parts.
 */
export class FlatDisk implements VirtualDisk {
  readonly sectorSize = SECTOR_SIZE;

  constructor(
    readonly format: DiskFormat,
    private readonly file: InputFile,
    readonly virtualSize: number,
    private readonly dataRanges: Extent[],
  ) {}

  static async open(file: InputFile, format: DiskFormat, dataLength: number): Promise<FlatDisk> {
    const ranges = await fileDataRanges(file, dataLength);
    return new FlatDisk(format, file, roundUp(dataLength, SECTOR_SIZE), ranges);
  }

  get path(): string {
    return this.file.path;
  }

  get allocatedBytes(): number {
    return this.dataRanges.reduce((sum, r) => sum + r.length, 0);
  }

  extents(): Extent[] {
    return this.dataRanges.map((r) => ({ ...r }));
  }

  async read(target: Buffer, offset: number): Promise<void> {
    assertReadInside(this, target, offset);
    // The last sector of a raw file whose length is not a sector multiple reads as zero-padded.
    const inFile = Math.max(0, Math.min(target.length, this.file.size - offset));
    if (inFile > 0) await this.file.readInto(`${this.format} data`, target.subarray(0, inFile), offset);
    target.fill(0, inFile);
  }

  /** The file's own bytes, when they are in the page cache (see VirtualDisk.fileRange). */
  async fileRange(offset: number, length: number): Promise<FileRange | undefined> {
    if (offset < 0 || offset + length > this.file.size || this.file.patched) return undefined;
    if (!(await this.file.readsThroughCache())) return undefined;
    return {
      fd: this.file.fd,
      fileOffset: offset,
      length,
      read: (target, at) => this.read(target, offset + at),
    };
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** Granularity at which FlatWriter remembers what it wrote, so a later zero write over data is not skipped. */
const TRACK_GRANULE = 1024 * 1024;

/**
 * Writes a flat image as a sparse file: all-zero pieces that land on never-written space are
 * skipped, leaving holes. `trailer` is appended after the data (the fixed VHD footer).
 */
export class FlatWriter implements DiskWriter {
  private readonly written: Uint8Array;

  private constructor(
    readonly format: DiskFormat,
    private readonly out: OutputFile,
    readonly virtualSize: number,
    private readonly trailer: (() => Buffer) | undefined,
  ) {
    this.written = new Uint8Array(Math.ceil(Math.ceil(virtualSize / TRACK_GRANULE) / 8));
  }

  static async create(
    format: DiskFormat,
    path: string,
    virtualSize: number,
    trailer?: () => Buffer,
  ): Promise<FlatWriter> {
    const out = await OutputFile.create(path);
    try {
      await out.truncate(virtualSize);
    } catch (err) {
      await out.discard();
      throw err;
    }
    return new FlatWriter(format, out, virtualSize, trailer);
  }

  async write(data: Buffer, offset: number): Promise<void> {
    assertWriteInside(data, offset, this.virtualSize);
    if (isZero(data) && !this.touches(offset, data.length)) return;
    this.mark(offset, data.length);
    await this.out.writeAt(data, offset);
  }

  private touches(offset: number, length: number): boolean {
    for (let g = Math.floor(offset / TRACK_GRANULE); g * TRACK_GRANULE < offset + length; g++) {
      if (this.written[g >>> 3] & (1 << (g & 7))) return true;
    }
    return false;
  }

  private mark(offset: number, length: number): void {
    for (let g = Math.floor(offset / TRACK_GRANULE); g * TRACK_GRANULE < offset + length; g++)
      this.written[g >>> 3] |= 1 << (g & 7);
  }

  async finish(): Promise<void> {
    try {
      if (this.trailer) await this.out.writeAt(this.trailer(), this.virtualSize);
      await this.out.commit();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  abort(): Promise<void> {
    return this.out.discard();
  }
}

/** Raw images: the guest bytes as they are. Every file reads as raw, so raw is probed last. */
export const rawDriver: DiskDriver = {
  name: 'raw',
  reader: { probe: () => true, open: (file) => FlatDisk.open(file, 'raw', file.size) },
  createWriter: (path, options) => FlatWriter.create('raw', path, roundUp(options.virtualSize, SECTOR_SIZE)),
  blockMapped: false,
};

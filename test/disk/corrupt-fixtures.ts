/** Small valid disks of every format, and the means to damage them in memory and write the result sparsely. */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { crc32c } from '../../disk/checksum';
import { convertDisk } from '../../disk/convert';
import { openDisk } from '../../disk/open';
import { DiskFormat } from '../../disk/types';
import { isZero } from '../../disk/zero';
import { makeRaw, MIB, qemuConvert } from './helpers';

export const CORRUPTIBLE: Exclude<DiskFormat, 'raw'>[] = ['vhd', 'vhd-fixed', 'vhdx', 'vmdk', 'vmdk-stream'];
export const KIB = 1024;

/** A 40 MiB source with data in a few places, so every format has several blocks (VHDX two of 32 MiB). */
export function makeSource(file: string): void {
  makeRaw(file, 40 * MIB, [
    { offset: 0, length: 128 * KIB },
    { offset: 2 * MIB + 4096, length: 4096, fill: 'text' },
    { offset: 40 * MIB - 512, length: 512 },
  ]);
}

export async function laminaImage(source: string, format: DiskFormat, out: string): Promise<Buffer> {
  const disk = await openDisk(source);
  await convertDisk(disk, format, out);
  await disk.close();
  return readFileSync(out);
}

export function qemuImage(source: string, format: DiskFormat, out: string): Buffer {
  qemuConvert(source, format, out);
  return readFileSync(out);
}

/** Writes `image` to `file`, skipping all-zero 64 KiB pieces so a 36 MiB VHDX costs a few writes. */
export function writeSparse(file: string, image: Buffer): void {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, image.length);
    for (let at = 0; at < image.length; at += 64 * KIB) {
      const piece = image.subarray(at, Math.min(image.length, at + 64 * KIB));
      if (!isZero(piece)) writeSync(fd, piece, 0, piece.length, at);
    }
  } finally {
    closeSync(fd);
  }
}

/** Byte ranges holding each format's metadata, where damage is interesting. */
export function metadataRanges(format: DiskFormat, image: Buffer): [number, number][] {
  const end = image.length;
  switch (format) {
    case 'vhd':
      return [
        [0, 4 * KIB],
        [end - 512, end],
      ];
    case 'vhd-fixed':
      return [[end - 512, end]];
    case 'vhdx':
      return [
        [0, 320 * KIB],
        [2 * MIB, 2 * MIB + 64 * KIB + 64],
        [3 * MIB, 3 * MIB + 4 * KIB],
      ];
    default:
      // VMDK: header, descriptor and tables at the start; streamOptimized keeps its tables and footer at the end.
      return [
        [0, 64 * KIB],
        [Math.max(0, end - 8 * KIB), end],
      ];
  }
}

function vhdChecksum(b: Buffer, at: number): void {
  b.writeUInt32BE(0, at);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.writeUInt32BE(~sum >>> 0, at);
}

function vhdxChecksum(b: Buffer): void {
  b.writeUInt32LE(0, 4);
  b.writeUInt32LE(crc32c(b), 4);
}

/**
 * Recomputes the checksums of a damaged image so the damage reaches the checks behind them.
 * Lamina and qemu place these structures at the same offsets.
 */
export function reseal(format: DiskFormat, image: Buffer): void {
  if (format === 'vhd' || format === 'vhd-fixed') {
    if (image.length >= 512) vhdChecksum(image.subarray(image.length - 512), 64);
    if (format === 'vhd' && image.length >= 1536) {
      vhdChecksum(image.subarray(0, 512), 64);
      vhdChecksum(image.subarray(512, 1536), 36);
    }
  }
  if (format === 'vhdx') {
    // Log entries first: each is checksummed over its own length, as its header says.
    const logEnd = Math.min(image.length, LOG_AT + MIB);
    for (let at = LOG_AT; at + 64 <= logEnd; at += 4 * KIB) {
      const length = image.readUInt32LE(at + 8);
      const fits = length >= 4 * KIB && length % (4 * KIB) === 0 && at + length <= logEnd;
      if (image.subarray(at, at + 4).toString('latin1') === 'loge' && fits)
        vhdxChecksum(image.subarray(at, at + length));
    }
    for (const at of [64 * KIB, 128 * KIB])
      if (image.length >= at + 4 * KIB) vhdxChecksum(image.subarray(at, at + 4 * KIB));
    for (const at of [192 * KIB, 256 * KIB])
      if (image.length >= at + 64 * KIB) vhdxChecksum(image.subarray(at, at + 64 * KIB));
  }
}

/** Opens `file` and reads every allocated byte, as a conversion would. */
export async function readEverything(file: string): Promise<void> {
  const disk = await openDisk(file);
  try {
    const buffer = Buffer.alloc(MIB);
    for (const extent of disk.extents()) {
      for (let at = extent.offset; at < extent.offset + extent.length; at += MIB) {
        await disk.read(buffer.subarray(0, Math.min(MIB, extent.offset + extent.length - at)), at);
      }
    }
  } finally {
    await disk.close();
  }
}

const LOG_SECTOR = 4 * KIB;
/** Where Lamina puts the VHDX log. */
export const LOG_AT = MIB;

export const LOG_GUID = Buffer.alloc(16, 0x5a);

export type LogDescriptor =
  { kind: 'zero'; fileOffset: number; length: number } | { kind: 'data'; fileOffset: number; sector: Buffer };

/** One log entry as [MS-VHDX] 2.3.1 lays it out: header, descriptors, then one data sector per data descriptor. */
export function logEntry(
  sequence: bigint,
  tail: number,
  fileSize: number,
  descriptors: LogDescriptor[],
): Buffer {
  const descriptorSectors = Math.ceil((64 + 32 * descriptors.length) / LOG_SECTOR);
  const data = descriptors.filter((d) => d.kind === 'data');
  const entry = Buffer.alloc((descriptorSectors + data.length) * LOG_SECTOR);
  entry.write('loge', 0, 'latin1');
  entry.writeUInt32LE(entry.length, 8);
  entry.writeUInt32LE(tail, 12);
  entry.writeBigUInt64LE(sequence, 16);
  entry.writeUInt32LE(descriptors.length, 24);
  LOG_GUID.copy(entry, 32);
  entry.writeBigUInt64LE(BigInt(fileSize), 48); // flushed file offset
  entry.writeBigUInt64LE(BigInt(fileSize), 56); // last file offset
  let dataSector = descriptorSectors;
  descriptors.forEach((d, i) => {
    const at = 64 + 32 * i;
    entry.writeBigUInt64LE(BigInt(d.fileOffset), at + 16);
    entry.writeBigUInt64LE(sequence, at + 24);
    if (d.kind === 'zero') {
      entry.write('zero', at, 'latin1');
      entry.writeBigUInt64LE(BigInt(d.length), at + 8);
      return;
    }
    entry.write('desc', at, 'latin1');
    d.sector.copy(entry, at + 4, LOG_SECTOR - 4, LOG_SECTOR); // trailing bytes
    d.sector.copy(entry, at + 8, 0, 8); // leading bytes
    const s = dataSector++ * LOG_SECTOR;
    entry.write('data', s, 'latin1');
    entry.writeUInt32LE(Number(sequence >> 32n), s + 4);
    d.sector.copy(entry, s + 8, 8, LOG_SECTOR - 4);
    entry.writeUInt32LE(Number(sequence & 0xffffffffn), s + LOG_SECTOR - 4);
  });
  entry.writeUInt32LE(crc32c(entry), 4);
  return entry;
}

/** Names the log GUID in both VHDX headers and writes `entries` into the log (reseal afterwards). */
export function withLog(image: Buffer, entries: Buffer[]): void {
  for (const at of [64 * KIB, 128 * KIB]) LOG_GUID.copy(image, at + 48);
  let at = LOG_AT;
  for (const entry of entries) {
    entry.copy(image, at);
    at += entry.length;
  }
}

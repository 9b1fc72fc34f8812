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

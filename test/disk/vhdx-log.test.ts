/**
 * VHDX log replay: a disk with logged changes reads as if they were applied, exactly as qemu-img
 * sees it after replaying the log itself (`qemu-img check -r all`).
 */
import { copyFileSync } from 'node:fs';
import { crc32c } from '../../disk/checksum';
import { convertDisk } from '../../disk/convert';
import { DiskFormatError } from '../../disk/errors';
import { openDisk } from '../../disk/open';
import { KIB, laminaImage, makeSource, readEverything, reseal, writeSparse } from './corrupt-fixtures';
import { MIB, qemuImg, readRaw, scratchDir } from './helpers';

const scratch = scratchDir('vhdx-log');
const source = scratch.file('source.raw');
beforeAll(() => makeSource(source));
afterAll(() => scratch.cleanup());

const SECTOR = 4 * KIB;
const LOG_AT = MIB; // where Lamina puts the log
const BLOCK0_AT = 4 * MIB; // Lamina's first payload block, holding guest bytes 0..32 MiB
const GUID = Buffer.alloc(16, 0x5a);

type Descriptor =
  { kind: 'zero'; fileOffset: number; length: number } | { kind: 'data'; fileOffset: number; sector: Buffer };

/** One log entry as [MS-VHDX] 2.3.1 lays it out: header, descriptors, then one data sector per data descriptor. */
function logEntry(sequence: bigint, tail: number, fileSize: number, descriptors: Descriptor[]): Buffer {
  const descriptorSectors = Math.ceil((64 + 32 * descriptors.length) / SECTOR);
  const data = descriptors.filter((d) => d.kind === 'data');
  const entry = Buffer.alloc((descriptorSectors + data.length) * SECTOR);
  entry.write('loge', 0, 'latin1');
  entry.writeUInt32LE(entry.length, 8);
  entry.writeUInt32LE(tail, 12);
  entry.writeBigUInt64LE(sequence, 16);
  entry.writeUInt32LE(descriptors.length, 24);
  GUID.copy(entry, 32);
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
    d.sector.copy(entry, at + 4, SECTOR - 4, SECTOR); // trailing bytes
    d.sector.copy(entry, at + 8, 0, 8); // leading bytes
    const s = dataSector++ * SECTOR;
    entry.write('data', s, 'latin1');
    entry.writeUInt32LE(Number(sequence >> 32n), s + 4);
    d.sector.copy(entry, s + 8, 8, SECTOR - 4);
    entry.writeUInt32LE(Number(sequence & 0xffffffffn), s + SECTOR - 4);
  });
  entry.writeUInt32LE(crc32c(entry), 4);
  return entry;
}

/** A Lamina VHDX of the source whose headers name the log GUID, with `entries` written into the log. */
async function loggedDisk(name: string, entries: (image: Buffer) => Buffer[]): Promise<string> {
  const image = await laminaImage(source, 'vhdx', scratch.file(name));
  for (const at of [64 * KIB, 128 * KIB]) GUID.copy(image, at + 48);
  let at = LOG_AT;
  for (const entry of entries(image)) {
    entry.copy(image, at);
    at += entry.length;
  }
  reseal('vhdx', image);
  writeSparse(scratch.file(name), image);
  return scratch.file(name);
}

test('logged writes are replayed: Lamina reads what qemu-img reads after its own replay', async () => {
  const pattern = Buffer.alloc(SECTOR, 'logged by Hyper-V ');
  const file = await loggedDisk('replayed.vhdx', (image) => [
    logEntry(1n, 0, image.length, [{ kind: 'data', fileOffset: BLOCK0_AT, sector: pattern }]),
    logEntry(2n, 0, image.length, [{ kind: 'zero', fileOffset: BLOCK0_AT + 8 * KIB, length: SECTOR }]),
  ]);
  const disk = await openDisk(file);
  const head = Buffer.alloc(16 * KIB);
  await disk.read(head, 0);
  const laminaRaw = scratch.file('replayed.raw');
  await convertDisk(disk, 'raw', laminaRaw);
  await disk.close();
  const original = readRaw(source, 0, 16 * KIB);
  expect(head.subarray(0, SECTOR).equals(pattern)).toBe(true);
  expect(head.subarray(SECTOR, 2 * SECTOR).equals(original.subarray(SECTOR, 2 * SECTOR))).toBe(true);
  expect(head.subarray(2 * SECTOR, 3 * SECTOR).equals(Buffer.alloc(SECTOR))).toBe(true);

  const qemuCopy = scratch.file('replayed-by-qemu.vhdx');
  copyFileSync(file, qemuCopy);
  expect(qemuImg(['info', '-f', 'vhdx', qemuCopy]).output).toContain(
    'contains a log that needs to be replayed',
  );
  expect(qemuImg(['check', '-r', 'all', '-f', 'vhdx', qemuCopy]).status).toBe(0);
  const compare = qemuImg(['compare', '-f', 'vhdx', '-F', 'raw', qemuCopy, laminaRaw]);
  expect(compare.output).toContain('Images are identical');
});

test('a set log GUID over an empty log, or over invalid entries only, changes nothing', async () => {
  const broken = (image: Buffer) => {
    const entry = logEntry(1n, 0, image.length, [{ kind: 'zero', fileOffset: BLOCK0_AT, length: SECTOR }]);
    entry[4] ^= 1; // checksum no longer matches: not a valid entry
    return [entry];
  };
  for (const [name, entries] of [
    ['empty-log.vhdx', () => []],
    ['invalid-entry.vhdx', broken],
  ] as const) {
    const file = await loggedDisk(name, entries);
    const disk = await openDisk(file);
    const head = Buffer.alloc(16 * KIB);
    await disk.read(head, 0);
    await disk.close();
    expect(head.equals(readRaw(source, 0, 16 * KIB))).toBe(true);
    expect(qemuImg(['info', '-f', 'vhdx', file]).status).toBe(0);
  }
});

test('a log that claims more file than there is (truncated) is a DiskFormatError', async () => {
  const file = await loggedDisk('truncated-log.vhdx', (image) => [
    logEntry(1n, 0, image.length + 64 * MIB, []),
  ]);
  await expect(readEverything(file)).rejects.toThrow(DiskFormatError);
  await expect(readEverything(file)).rejects.toThrow(
    /VHDX log entry 1 at offset 1048576: log says the file was \d+ bytes long/,
  );
});

test('a descriptor of unknown kind in a valid entry is a DiskFormatError', async () => {
  const file = await loggedDisk('odd-descriptor.vhdx', (image) => {
    const entry = logEntry(1n, 0, image.length, [{ kind: 'zero', fileOffset: BLOCK0_AT, length: SECTOR }]);
    entry.write('what', 64, 'latin1');
    entry.writeUInt32LE(0, 4);
    entry.writeUInt32LE(crc32c(entry), 4);
    return [entry];
  });
  await expect(readEverything(file)).rejects.toThrow(
    /VHDX log entry 1 at offset 1048576: descriptor 0 has unknown signature "what"/,
  );
});

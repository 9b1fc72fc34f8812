/**
 * VHDX log replay: a disk with logged changes reads as if they were applied, exactly as qemu-img
 * sees it after replaying the log itself (`qemu-img check -r all`).
 */
import { copyFileSync } from 'node:fs';
import { crc32c } from '../../disk/checksum';
import { convertDisk } from '../../disk/convert';
import { DiskFormatError } from '../../disk/errors';
import { openDisk } from '../../disk/open';
import {
  KIB,
  laminaImage,
  logEntry,
  makeSource,
  readEverything,
  reseal,
  withLog,
  writeSparse,
} from './corrupt-fixtures';
import { MIB, qemuImg, readRaw, scratchDir } from './helpers';

const scratch = scratchDir('vhdx-log');
const source = scratch.file('source.raw');
beforeAll(() => makeSource(source));
afterAll(() => scratch.cleanup());

const SECTOR = 4 * KIB;
const BLOCK0_AT = 4 * MIB; // Lamina's first payload block, holding guest bytes 0..32 MiB

/** A Lamina VHDX of the source whose headers name the log GUID, with `entries` written into the log. */
async function loggedDisk(
  name: string,
  entries: (image: Buffer) => Buffer[],
  afterReseal: (image: Buffer) => void = () => undefined,
): Promise<string> {
  const image = await laminaImage(source, 'vhdx', scratch.file(name));
  withLog(image, entries(image));
  reseal('vhdx', image); // header CRCs, and the entries' own
  afterReseal(image);
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
  const zeroing = (image: Buffer) => [
    logEntry(1n, 0, image.length, [{ kind: 'zero', fileOffset: BLOCK0_AT, length: SECTOR }]),
  ];
  const breakChecksum = (image: Buffer) => void (image[MIB + 4] ^= 1); // the entry is no longer valid
  for (const [name, entries, damage] of [
    ['empty-log.vhdx', () => [], undefined],
    ['invalid-entry.vhdx', zeroing, breakChecksum],
  ] as const) {
    const file = await loggedDisk(name, entries, damage);
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

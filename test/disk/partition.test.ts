/** MBR and GPT as Lamina writes them, judged by sgdisk and sfdisk; and tables those tools write, read by Lamina. */
import { execFileSync, spawnSync } from 'node:child_process';
import { openSync, writeSync, closeSync } from 'node:fs';
import { createDiskWriter, openDisk } from '../../disk/open';
import {
  buildGpt,
  buildMbr,
  PARTITION_TYPE,
  readPartitionTable,
  writeTableSegments,
} from '../../disk/partition';
import { DiskFormatError } from '../../disk/errors';
import { DiskFormat } from '../../disk/types';
import { makeRaw, MIB, scratchDir } from './helpers';

const scratch = scratchDir('partition');
afterAll(() => scratch.cleanup());

const DISK_SIZE = 300 * MIB;
const UEFI_LAYOUT = [
  { kind: 'esp' as const, size: 100 * MIB },
  { kind: 'msr' as const, size: 16 * MIB },
  { kind: 'basic-data' as const },
];

async function writeGptDisk(file: string, format: DiskFormat = 'raw') {
  const writer = await createDiskWriter(format, file, { virtualSize: DISK_SIZE });
  const { segments, partitions } = buildGpt(DISK_SIZE, UEFI_LAYOUT);
  await writeTableSegments(writer, segments);
  await writer.finish();
  return partitions;
}

function sgdisk(...args: string[]) {
  const result = spawnSync('sgdisk', args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test('sgdisk -v finds no problems in the GPT Lamina writes, and sees our partitions', async () => {
  const file = scratch.file('uefi.raw');
  await writeGptDisk(file);
  const verify = sgdisk('-v', file);
  expect(verify.output).toContain('No problems found');
  const print = sgdisk('-p', file).output;
  // Start sector 2048 = 1 MiB alignment; type codes EF00 (ESP), 0C01 (MSR), 0700 (basic data).
  expect(print).toMatch(/^\s+1\s+2048\s+206847\s+100\.0 MiB\s+EF00/m);
  expect(print).toMatch(/^\s+2\s+206848\s+239615\s+16\.0 MiB\s+0C01/m);
  expect(print).toMatch(/^\s+3\s+239616\s+\d+\s+[\d.]+ MiB\s+0700/m);
});

test('sgdisk notices a damaged entry array, and Lamina falls back to the backup GPT', async () => {
  const file = scratch.file('damaged.raw');
  await writeGptDisk(file);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from('XX'), 0, 2, 2 * 512 + 60); // inside entry 1's name: breaks the primary entries' CRC
  closeSync(fd);
  expect(sgdisk('-v', file).output).not.toContain('No problems found');
  const disk = await openDisk(file);
  const table = await readPartitionTable(disk);
  await disk.close();
  expect(table?.scheme).toBe('gpt');
  expect(table?.partitions.map((p) => p.type)).toEqual([
    PARTITION_TYPE.esp,
    PARTITION_TYPE.msr,
    PARTITION_TYPE['basic-data'],
  ]);
});

test('a GPT written through a VHDX writer reads back the same', async () => {
  const file = scratch.file('uefi.vhdx');
  const written = await writeGptDisk(file, 'vhdx');
  const disk = await openDisk(file);
  const table = await readPartitionTable(disk);
  await disk.close();
  expect(table).toEqual({ scheme: 'gpt', partitions: written });
});

test('Lamina reads the GPT sgdisk writes', async () => {
  const file = scratch.file('sgdisk.raw');
  makeRaw(file, DISK_SIZE, []);
  execFileSync('sgdisk', [
    '-n',
    '1:0:+100M',
    '-t',
    '1:ef00',
    '-c',
    '1:EFI',
    '-n',
    '2:0:+16M',
    '-t',
    '2:0c01',
    '-n',
    '3:0:0',
    '-t',
    '3:0700',
    file,
  ]);
  const disk = await openDisk(file);
  const table = await readPartitionTable(disk);
  await disk.close();
  expect(table?.scheme).toBe('gpt');
  expect(table?.partitions.map((p) => [p.number, p.type, p.start, p.size])).toEqual([
    [1, PARTITION_TYPE.esp, MIB, 100 * MIB],
    [2, PARTITION_TYPE.msr, 101 * MIB, 16 * MIB],
    [3, PARTITION_TYPE['basic-data'], 117 * MIB, expect.any(Number)],
  ]);
  expect(table?.partitions[0].name).toBe('EFI');
});

test('a GPT whose both headers are damaged is a DiskFormatError naming the header', async () => {
  const file = scratch.file('ruined.raw');
  await writeGptDisk(file);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from('NOT GPT!'), 0, 8, 512);
  writeSync(fd, Buffer.from('NOT GPT!'), 0, 8, DISK_SIZE - 512);
  closeSync(fd);
  const disk = await openDisk(file);
  await expect(readPartitionTable(disk)).rejects.toThrow(DiskFormatError);
  await expect(readPartitionTable(disk)).rejects.toThrow(/GPT header at offset 512: signature/);
  await disk.close();
});

test('sfdisk reads the MBR Lamina writes: 1 MiB aligned, active NTFS partition', async () => {
  const file = scratch.file('bios.raw');
  const writer = await createDiskWriter('raw', file, { virtualSize: DISK_SIZE });
  const { sector0 } = buildMbr(DISK_SIZE, [{ kind: 'basic-data', bootable: true }]);
  await writer.write(sector0, 0);
  await writer.finish();
  const dump = JSON.parse(execFileSync('sfdisk', ['--json', file], { encoding: 'utf8' }));
  expect(dump.partitiontable.label).toBe('dos');
  expect(dump.partitiontable.partitions).toEqual([
    expect.objectContaining({ start: 2048, size: DISK_SIZE / 512 - 2048, type: '7', bootable: true }),
  ]);
});

test('Lamina reads the MBR sfdisk writes', async () => {
  const file = scratch.file('sfdisk.raw');
  makeRaw(file, DISK_SIZE, []);
  execFileSync('sfdisk', [file], {
    input: 'label: dos\nstart=2048, size=204800, type=7, bootable\nstart=206848, type=83\n',
  });
  const disk = await openDisk(file);
  const table = await readPartitionTable(disk);
  await disk.close();
  expect(table?.scheme).toBe('mbr');
  expect(table?.partitions.map((p) => [p.number, p.type, p.start, p.size, p.bootable])).toEqual([
    [1, '07', MIB, 100 * MIB, true],
    [2, '83', 101 * MIB, DISK_SIZE - 101 * MIB, false],
  ]);
});

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import type { ProgressListener } from './native';
import type { DiskLayout } from './disk-layout';

/**
 * The container step, in one place: reading a partition out of a VM disk, and writing a disk
 * from a layout and partition image files. Everything else in the compositor works on partition
 * image files.
 */

const run = promisify(execFile);

export type OutputFormat = 'raw' | 'vhd' | 'vhd-fixed' | 'vhdx' | 'vmdk' | 'vmdk-stream';
export const OUTPUT_FORMATS: readonly OutputFormat[] = [
  'raw',
  'vhd',
  'vhd-fixed',
  'vhdx',
  'vmdk',
  'vmdk-stream',
];

/** A partition's content: a partition image file the size of the partition. */
export type PartitionContents = Partial<Record<'esp' | 'windows', string>>;

const GPT_TYPES = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  msr: 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE',
  windows: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
} as const;
const GPT_NAMES = {
  esp: 'EFI system partition',
  msr: 'Microsoft reserved partition',
  windows: 'Basic data partition',
} as const;
const MBR_NTFS = 0x07;
const SECTOR = 512;
const CHUNK = 4 * 2 ** 20;

/** A GUID derived from `seed`: same inputs, same disk and partition identities. */
export function derivedGuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  // RFC 4122 variant, version 4 layout (random-looking, but not random).
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`.toUpperCase();
}

async function writePartitionTable(file: string, layout: DiskLayout, identity: string): Promise<void> {
  if (layout.firmware === 'bios') {
    const windows = layout.partitions[0];
    const diskId = createHash('sha256').update(`${identity}:mbr`).digest().readUInt32LE(0);
    const script = [
      'label: dos',
      `label-id: 0x${diskId.toString(16).padStart(8, '0')}`,
      'unit: sectors',
      `start=${windows.offset / SECTOR}, size=${windows.size / SECTOR}, type=${MBR_NTFS.toString(16)}, bootable`,
      '',
    ].join('\n');
    await new Promise<void>((resolve, reject) => {
      const child = execFile('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', file], (err) =>
        err ? reject(err) : resolve(),
      );
      child.stdin?.end(script);
    });
    return;
  }
  const args = ['-U', derivedGuid(`${identity}:disk`)];
  layout.partitions.forEach((partition, index) => {
    const n = index + 1;
    const first = partition.offset / SECTOR;
    const last = (partition.offset + partition.size) / SECTOR - 1;
    args.push(
      '-n',
      `${n}:${first}:${last}`,
      '-t',
      `${n}:${GPT_TYPES[partition.role]}`,
      '-c',
      `${n}:${GPT_NAMES[partition.role]}`,
      '-u',
      `${n}:${derivedGuid(`${identity}:${partition.role}`)}`,
    );
  });
  await run('sgdisk', [...args, file]);
}

/**
 * Copies `length` bytes of `source` from `sourceStart` into `target` at `targetStart`, skipping
 * all-zero chunks so the target stays sparse.
 */
async function copyNonZero(
  source: string,
  sourceStart: number,
  length: number,
  target: fs.FileHandle,
  targetStart: number,
  onChunk: (bytes: number) => void = () => undefined,
): Promise<void> {
  const input = await fs.open(source, 'r');
  try {
    const buffer = Buffer.alloc(CHUNK);
    const zero = Buffer.alloc(CHUNK);
    for (let position = 0; position < length; position += CHUNK) {
      const want = Math.min(CHUNK, length - position);
      const { bytesRead } = await input.read(buffer, 0, want, sourceStart + position);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      if (!chunk.equals(zero.subarray(0, bytesRead)))
        await target.write(chunk, 0, bytesRead, targetStart + position);
      onChunk(bytesRead);
    }
  } finally {
    await input.close();
  }
}

/**
 * Writes a whole disk to `out`: partition table, then each partition's image file at its
 * offset. The file appears at `out` only when complete (written under a temporary name, then
 * renamed); on failure nothing is left behind.
 */
export async function writeDisk(
  layout: DiskLayout,
  contents: PartitionContents,
  format: OutputFormat,
  out: string,
  options: { identity: string; onProgress?: ProgressListener },
): Promise<void> {
  if (format !== 'raw') throw new Error(`output format ${format} needs the disk/ writers, not available yet`);
  const partial = `${out}.partial-${process.pid}`;
  try {
    await fs.writeFile(partial, '');
    await fs.truncate(partial, layout.size);
    await writePartitionTable(partial, layout, options.identity);
    const placed = layout.partitions.filter((p) => p.role !== 'msr' && contents[p.role] !== undefined);
    const total = placed.reduce((sum, p) => sum + p.size, 0);
    let done = 0;
    options.onProgress?.({ phase: 'write', done, total });
    const target = await fs.open(partial, 'r+');
    try {
      for (const partition of placed) {
        const source = contents[partition.role as 'esp' | 'windows'] as string;
        await copyNonZero(source, 0, partition.size, target, partition.offset, (bytes) => {
          done += bytes;
          options.onProgress?.({ phase: 'write', done, total });
        });
      }
      await target.sync();
    } finally {
      await target.close();
    }
    await fs.rename(partial, out);
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw err;
  }
}

interface SfdiskPartition {
  start: number;
  size: number;
  type: string;
}

/**
 * Finds the Windows partition of a VM disk (MBR or GPT): the largest partition whose type is
 * NTFS/basic data and whose boot sector says NTFS. Copies it to `target` (sparse).
 */
export async function extractWindowsPartition(disk: string, target: string): Promise<void> {
  let table: SfdiskPartition[];
  try {
    const { stdout } = await run('sfdisk', ['--json', disk]);
    table =
      (JSON.parse(stdout) as { partitiontable: { partitions?: SfdiskPartition[] } }).partitiontable
        .partitions ?? [];
  } catch {
    throw new Error(`${disk}: no MBR or GPT partition table`);
  }
  const handle = await fs.open(disk, 'r');
  const candidates: SfdiskPartition[] = [];
  try {
    for (const partition of table) {
      const type = partition.type.toUpperCase();
      if (type !== '7' && type !== GPT_TYPES.windows) continue;
      const boot = Buffer.alloc(SECTOR);
      await handle.read(boot, 0, SECTOR, partition.start * SECTOR);
      if (boot.toString('latin1', 3, 11) === 'NTFS    ') candidates.push(partition);
    }
  } finally {
    await handle.close();
  }
  const windows = candidates.sort((a, b) => b.size - a.size)[0];
  if (!windows) throw new Error(`${disk}: no NTFS partition found`);
  await fs.writeFile(target, '');
  await fs.truncate(target, windows.size * SECTOR);
  const out = await fs.open(target, 'r+');
  try {
    await copyNonZero(disk, windows.start * SECTOR, windows.size * SECTOR, out, 0);
  } finally {
    await out.close();
  }
}

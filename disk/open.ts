import { promises as fs } from 'node:fs';
import { BlockMappedDisk } from './block-mapped-disk';
import type { DiskDriver } from './driver';
import { DiskFormatError } from './errors';
import { InputFile } from './file-io';
import { DISK_DRIVERS } from './formats';
import { DiskIdentity } from './identity';
import { attachParent } from './parent-chain';
import { DiskFormat, DiskWriter, VirtualDisk, WriterOptions } from './types';

/**
 * Opens a disk file of any supported format, recognised by content (never by extension): each
 * driver's reader looks at the first and last 512 bytes, in the order formats/index.ts lists them.
 * A differencing disk comes with its chain of parents (parent-chain.ts).
 */
export async function openDisk(path: string): Promise<VirtualDisk> {
  return openInChain(path, [await fs.realpath(path).catch(() => path)]);
}

/** Opens `path` and its parents; `chain` holds its real path and its children's. */
async function openInChain(path: string, chain: string[]): Promise<VirtualDisk> {
  const disk = await openFile(path);
  if (!(disk instanceof BlockMappedDisk) || !disk.child) return disk;
  try {
    await attachParent(disk, disk.child.link, openInChain, chain);
  } catch (err) {
    await disk.close();
    throw err;
  }
  return disk;
}

async function openFile(path: string): Promise<VirtualDisk> {
  const file = await InputFile.open(path);
  try {
    const head = await file.readStructure('file start', 0, Math.min(file.size, 512));
    const tail = await file.readStructure('file end', Math.max(0, file.size - 512), Math.min(file.size, 512));
    for (const { reader } of DISK_DRIVERS) {
      if (reader?.probe(head, tail, file.size)) return await reader.open(file);
    }
    throw new DiskFormatError(path, 'file start', 0, 'no disk format recognises the file');
  } catch (err) {
    await file.close();
    throw err;
  }
}

function driverFor(format: DiskFormat): DiskDriver {
  const driver = DISK_DRIVERS.find((d) => d.name === format);
  if (!driver) throw new RangeError(`unknown disk format ${format}`);
  return driver;
}

/** Formats whose writer is an AllocatingWriter, which can share its blocks with another process. */
export const BLOCK_MAPPED_FORMATS: readonly DiskFormat[] = DISK_DRIVERS.filter((d) => d.blockMapped).map(
  (d) => d.name,
);

/**
 * Creates a writer for a new disk of `format` at `path`. The file appears at `path` only when
 * the writer's finish() succeeds. With `options.parent`, a differencing disk of that disk.
 */
export async function createDiskWriter(
  format: DiskFormat,
  path: string,
  options: WriterOptions,
): Promise<DiskWriter> {
  const driver = driverFor(format);
  const identity = DiskIdentity.of(options.identity);
  if (options.parent === undefined) return driver.createWriter(path, options, identity);
  if (!driver.createChildWriter)
    throw new RangeError(`${path}: ${format} disks are not written as differencing disks (vhdx is)`);
  const parent = await openDisk(options.parent);
  try {
    return await driver.createChildWriter(path, options, identity, parent);
  } catch (err) {
    await parent.close();
    throw err;
  }
}

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  BlockMappedDisk,
  createDiskWriter,
  copyDisk,
  openDisk,
  type Extent,
  type VirtualDisk,
} from '../disk';
import { parseRegText } from '../registry';
import { extractWindowsPartition, openWindowsPartition } from './disk-image';
import { readDeletions } from './layer-build';
import { openLayerSource, sourceOperations } from './layer-sources';
import { mergeRegistry } from './registry-merge';
import { applyToVolume } from './volume';
import { withWorkDir } from './work-dir';

/**
 * What an installer running inside a Windows machine does to its boot disk, done from outside: files
 * written at their Windows paths on C:, paths deleted, and a .reg applied to the machine hives
 * (SOFTWARE, SYSTEM — CurrentControlSet resolved through Select —, DEFAULT). The local connector's
 * stand-in for an admin on a packaging machine (`lamina vm install`), and the tests' simulated
 * installer for capture. The disk is rewritten in its own format and replaces the old one only when
 * complete; a differencing VHDX (a local packaging machine's boot disk) is rewritten as a child of
 * the same parent, holding the blocks that differ from it, as a guest's writes would leave it.
 */
export interface BootDiskInstall {
  /** Folder or zip of files at their Windows paths (`Program Files\App\app.exe`). */
  from?: string;
  /** A .reg file of HKEY_LOCAL_MACHINE changes (regedit format; `-` deletes). */
  reg?: string;
  /** One Windows path per line to delete (files or folders). */
  deletions?: string;
}

export async function installIntoBootDisk(disk: string, install: BootDiskInstall): Promise<void> {
  // Inputs are checked before the disk is touched: a broken .reg names its line, nothing is half done.
  const regText = install.reg ? await fs.readFile(install.reg) : undefined;
  const operations = regText && install.reg ? parseRegText(regText, install.reg).operations : [];
  const deletions = install.deletions ? await readDeletions(install.deletions) : [];
  const content = install.from ? await openLayerSource(install.from) : undefined;
  try {
    await withWorkDir(disk, async (work) => {
      const partition = path.join(work, 'windows.ntfs');
      const windows = await openWindowsPartition(disk);
      const start = windows.start;
      await windows.close();
      await extractWindowsPartition(disk, partition);
      const epoch = Math.floor(Date.now() / 1000);
      if (deletions.length > 0)
        await applyToVolume(
          partition,
          deletions.map((p) => ({ op: 'delete' as const, path: p })),
          { epoch },
        );
      if (content) await applyToVolume(partition, sourceOperations(content), { epoch });
      if (operations.length > 0)
        await mergeRegistry(partition, [{ layer: 'installer', operations }], work, epoch);
      await replaceWindowsPartition(disk, start, partition);
    });
  } finally {
    await content?.close();
  }
}

/** Rewrites `disk` with the partition at `start` taken from the partition image `partition`. */
async function replaceWindowsPartition(disk: string, start: number, partition: string): Promise<void> {
  const original = await openDisk(disk);
  const image = await openDisk(partition);
  const temp = path.join(path.dirname(disk), `.${path.basename(disk)}.${process.pid}.install.tmp`);
  try {
    const parent = differencingParent(original);
    const writer = await createDiskWriter(original.format, temp, {
      virtualSize: original.virtualSize,
      ...(parent ? { parent } : {}),
    });
    try {
      await copyDisk(new PatchedDisk(original, image, start), writer);
      await writer.finish();
    } catch (err) {
      await writer.abort();
      throw err;
    }
  } finally {
    await image.close();
    await original.close();
  }
  await fs.rename(temp, disk);
}

/** The parent file of a differencing VHDX, which disk/ writes children of; undefined for any other disk. */
function differencingParent(disk: VirtualDisk): string | undefined {
  return disk instanceof BlockMappedDisk && disk.format === 'vhdx' ? disk.parent?.path : undefined;
}

/** A disk whose bytes in one window come from another disk (a partition image), the rest from itself. */
class PatchedDisk implements VirtualDisk {
  readonly path: string;
  readonly format: VirtualDisk['format'];
  readonly virtualSize: number;
  readonly sectorSize: number;
  private readonly end: number;

  constructor(
    private readonly base: VirtualDisk,
    private readonly window: VirtualDisk,
    private readonly start: number,
  ) {
    this.path = base.path;
    this.format = base.format;
    this.virtualSize = base.virtualSize;
    this.sectorSize = base.sectorSize;
    this.end = start + window.virtualSize;
  }

  get allocatedBytes(): number {
    return this.extents().reduce((sum, e) => sum + e.length, 0);
  }

  /**
   * Where either disk may hold data, the base's extents inside the window too: where the volume now
   * reads zeros over the base's data, a child's writer must be told (it stores what differs from
   * its parent), and a whole disk's writer leaves those zeros unallocated anyway.
   */
  extents(): Extent[] {
    const inside = this.window.extents().map((e) => ({ offset: this.start + e.offset, length: e.length }));
    const merged: Extent[] = [];
    for (const e of [...this.base.extents(), ...inside].sort((a, b) => a.offset - b.offset)) {
      const last = merged[merged.length - 1];
      if (last && e.offset <= last.offset + last.length)
        last.length = Math.max(last.length, e.offset + e.length - last.offset);
      else merged.push({ ...e });
    }
    return merged;
  }

  async read(target: Buffer, offset: number): Promise<void> {
    const end = offset + target.length;
    // Before, inside and after the window, each from its own disk.
    const parts = [
      { from: offset, to: Math.min(end, this.start), disk: this.base, shift: 0 },
      {
        from: Math.max(offset, this.start),
        to: Math.min(end, this.end),
        disk: this.window,
        shift: this.start,
      },
      { from: Math.max(offset, this.end), to: end, disk: this.base, shift: 0 },
    ];
    for (const part of parts)
      if (part.from < part.to)
        await part.disk.read(target.subarray(part.from - offset, part.to - offset), part.from - part.shift);
  }

  async close(): Promise<void> {}
}

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BlockMappedDisk, type Extent, type VirtualDisk } from '../../disk';
import { extractWindowsPartition, openWindowsPartition } from '../disk-image';
import { ComposeError } from '../errors';
import type { ServedVolume, VolumeRef } from '../native';

/**
 * The two disks a capture compares, BASE and AFTER (whole-disk images of any format), opened at
 * their Windows volumes and checked to be the same disk at two moments: a packaging machine's
 * boot disk is its base's child or copy, so it has the base's NTFS volume (serial number) at the
 * base's place. Anything else would give a difference of two unrelated volumes.
 *
 * Where AFTER is a child of BASE (a differencing disk whose parent chain reaches BASE's file),
 * the blocks the children hold are all that can differ: their ranges of the volume go to the core,
 * which compares only the MFT records in them.
 */

export interface DiskPair {
  base: VolumeRef;
  after: ServedVolume;
  /** AFTER is a child of BASE: a file of the volume ranges it holds (capture-diff.h), and their bytes. */
  childOfBase?: { rangesFile: string; bytes: number };
  close(): Promise<void>;
}

/**
 * The ranges of `after`'s volume that its disk, a child of BASE or a child's child, holds itself;
 * undefined when the chain does not reach BASE (a copy, or a child of another disk). A parent is
 * BASE when it is BASE's file, or a copy of it: the identity a child links to (VHDX data write
 * GUID, VHD unique id, VMDK CID) changes whenever a disk is written, so an equal one is the same
 * bytes (the packaging machine's parent is a copy of the composed disk the capture gets as BASE).
 */
async function rangesOverBase(after: ServedVolume, base: ServedVolume): Promise<Extent[] | undefined> {
  const baseFile = await fs.realpath(base.disk.path);
  const baseId = (base.disk as Partial<BlockMappedDisk>).linkId;
  const isBase = async (disk: VirtualDisk) =>
    (baseId !== undefined && (disk as Partial<BlockMappedDisk>).linkId === baseId) ||
    (await fs.realpath(disk.path)) === baseFile;
  const own: Extent[] = [];
  for (let disk: VirtualDisk = after.disk; ; disk = disk.parent) {
    if (!(disk instanceof BlockMappedDisk) || !disk.parent) return undefined;
    own.push(...disk.ownExtents());
    if (await isBase(disk.parent)) break;
  }
  const end = after.start + after.size;
  return own
    .map((e) => ({ from: Math.max(e.offset, after.start), to: Math.min(e.offset + e.length, end) }))
    .filter((r) => r.from < r.to)
    .sort((a, b) => a.from - b.from)
    .map((r) => ({ offset: r.from - after.start, length: r.to - r.from }));
}

/** Writes `ranges` as the core reads them: little-endian u64 offset and length pairs. */
async function writeRanges(file: string, ranges: Extent[]): Promise<void> {
  const data = Buffer.alloc(ranges.length * 16);
  ranges.forEach((r, i) => {
    data.writeBigUInt64LE(BigInt(r.offset), i * 16);
    data.writeBigUInt64LE(BigInt(r.length), i * 16 + 8);
  });
  await fs.writeFile(file, data);
}

const SERIAL_OFFSET = 0x48;

async function bootSector(volume: ServedVolume): Promise<Buffer> {
  const sector = Buffer.alloc(512);
  await volume.disk.read(sector, volume.start);
  return sector;
}

async function openVolume(disk: string, role: string): Promise<ServedVolume> {
  try {
    return await openWindowsPartition(disk);
  } catch (err) {
    if (err instanceof ComposeError)
      throw new ComposeError(`${role} ${err.message}: capture needs the NTFS boot volume of a Windows disk`);
    throw err;
  }
}

/**
 * Opens both; refuses disks that are not the same volume. The core reads at most one served
 * volume per process, so when neither disk's blocks can be read in place, BASE is copied into
 * `work` first (raw or stream-optimized inputs).
 */
export async function openDiskPair(basePath: string, afterPath: string, work: string): Promise<DiskPair> {
  const base = await openVolume(basePath, 'BASE');
  let after: ServedVolume | undefined;
  try {
    after = await openVolume(afterPath, 'AFTER');
    const [baseBoot, afterBoot] = await Promise.all([bootSector(base), bootSector(after)]);
    const serial = (boot: Buffer) => boot.subarray(SERIAL_OFFSET, SERIAL_OFFSET + 8).toString('hex');
    if (serial(baseBoot) !== serial(afterBoot) || base.start !== after.start)
      throw new ComposeError(
        `BASE ${basePath} and AFTER ${afterPath} are different disks (volume serial ${serial(baseBoot)} at byte ` +
          `${base.start}, and ${serial(afterBoot)} at byte ${after.start}): AFTER must be a copy or a child of BASE`,
      );
    const ranges = await rangesOverBase(after, base);
    let baseRef: VolumeRef = base;
    if (!base.mapFile && !after.mapFile) {
      baseRef = path.join(work, 'base.ntfs');
      await base.close();
      await extractWindowsPartition(basePath, baseRef);
    }
    const opened = after;
    const rangesFile = path.join(work, 'changed.ranges');
    if (ranges) await writeRanges(rangesFile, ranges);
    return {
      base: baseRef,
      after: opened,
      ...(ranges ? { childOfBase: { rangesFile, bytes: ranges.reduce((sum, r) => sum + r.length, 0) } } : {}),
      close: async () => {
        await opened.close();
        if (typeof baseRef !== 'string') await base.close();
      },
    };
  } catch (err) {
    await after?.close();
    await base.close().catch(() => undefined);
    throw err;
  }
}

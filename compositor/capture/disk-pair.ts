import * as path from 'node:path';
import { extractWindowsPartition, openWindowsPartition } from '../disk-image';
import { ComposeError } from '../errors';
import type { ServedVolume, VolumeRef } from '../native';

/**
 * The two disks a capture compares, BASE and AFTER (whole-disk images of any format), opened at
 * their Windows volumes and checked to be the same disk at two moments: a packaging machine's
 * boot disk is its base's child or copy, so it has the base's NTFS volume (serial number) at the
 * base's place. Anything else would give a difference of two unrelated volumes.
 */

export interface DiskPair {
  base: VolumeRef;
  after: ServedVolume;
  close(): Promise<void>;
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
          `${base.start}, and ${serial(afterBoot)} at byte ${after.start}): AFTER must be a copy of BASE`,
      );
    let baseRef: VolumeRef = base;
    if (!base.mapFile && !after.mapFile) {
      baseRef = path.join(work, 'base.ntfs');
      await base.close();
      await extractWindowsPartition(basePath, baseRef);
    }
    const opened = after;
    return {
      base: baseRef,
      after: opened,
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

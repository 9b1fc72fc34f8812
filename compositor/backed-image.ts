import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeMapBacking, type DiskFormat, type DiskWindow, type Extent, type VirtualDisk } from '../disk';
import type { ServedVolume } from './native';
import { clusterBitmap } from './volume';

/**
 * A work image whose Windows partition reads through to the OS layer wherever it was never
 * written (native/ntfs/backing.h). A converted compose (raw, vhd-fixed, vmdk-stream) builds its
 * image in a work VHDX and then converts it: cloning the OS volume into that VHDX first meant
 * writing its gigabytes and reading them back. Instead the work VHDX starts empty, the NTFS core
 * sees the OS volume through it (and copies a block in at its first write), and the conversion
 * reads the OS layer's data straight from the OS layer (BackedDisk).
 *
 * Only clusters the OS volume's $Bitmap marks in use show through: the image gets exactly what a
 * clone, which copies those alone, would have given it.
 */

/** What shows through: the OS volume, and which of its clusters are in use. */
export interface OsBacking {
  volume: ServedVolume;
  clusterSize: number;
  /** One bit per cluster, in use = 1 (the volume's $Bitmap). */
  bitmap: Buffer;
  /** Where the image's Windows partition lies on the image. */
  window: DiskWindow;
}

/**
 * Makes the mapped work volume `mapFile` (a window of the work image) read through to `os`: its
 * cluster bitmap goes to the work folder and MAPFILE.backing tells the NTFS core where things are.
 */
export async function backWithOsVolume(
  mapFile: string,
  os: ServedVolume & { mapFile: string },
  window: DiskWindow,
  work: string,
): Promise<OsBacking> {
  const bitmapFile = path.join(work, 'os-clusters.bitmap');
  const { clusterSize } = await clusterBitmap(os, bitmapFile);
  await writeMapBacking(mapFile, { volume: `mapped:${os.mapFile}`, clusterSize, bitmapFile });
  return { volume: os, clusterSize, bitmap: await fs.readFile(bitmapFile), window };
}

/** Reads below this gap between in-use runs are merged: one read beats two short ones. */
const MERGE_GAP = 1024 * 1024;

/**
 * The finished work image as the conversion reads it: blocks the image holds come from it, the
 * rest of the Windows partition from the OS layer's in-use clusters, and everything else is zeros.
 */
export class BackedDisk implements VirtualDisk {
  /** The image's allocated ranges, ascending: whatever they cover comes from the image alone. */
  private readonly written: Extent[];

  constructor(
    private readonly image: VirtualDisk,
    private readonly backing: OsBacking,
  ) {
    this.written = image.extents();
  }

  get path(): string {
    return this.image.path;
  }

  get format(): DiskFormat {
    return this.image.format;
  }

  get virtualSize(): number {
    return this.image.virtualSize;
  }

  get sectorSize(): number {
    return this.image.sectorSize;
  }

  get allocatedBytes(): number {
    return this.extents().reduce((sum, e) => sum + e.length, 0);
  }

  /** Whether the OS volume's $Bitmap marks `cluster` in use. */
  private inUse(cluster: number): boolean {
    return ((this.backing.bitmap[cluster >> 3] >> (cluster & 7)) & 1) === 1;
  }

  /** The OS volume's in-use clusters as ranges of the image, near ones merged. */
  private inUseRanges(): Extent[] {
    const { bitmap, clusterSize, window, volume } = this.backing;
    const clusters = Math.min(
      bitmap.length * 8,
      Math.floor(Math.min(volume.size, window.size) / clusterSize),
    );
    const ranges: Extent[] = [];
    for (let c = 0; c < clusters;) {
      if (bitmap[c >> 3] === 0 && (c & 7) === 0) {
        c += 8;
        continue;
      }
      if (!this.inUse(c)) {
        c++;
        continue;
      }
      let run = c;
      while (run < clusters && this.inUse(run)) run++;
      const offset = window.offset + c * clusterSize;
      const length = (run - c) * clusterSize;
      const last = ranges[ranges.length - 1];
      if (last && offset - (last.offset + last.length) < MERGE_GAP)
        last.length = offset + length - last.offset;
      else ranges.push({ offset, length });
      c = run;
    }
    return ranges;
  }

  extents(): Extent[] {
    const all = [...this.written, ...this.inUseRanges()].sort((a, b) => a.offset - b.offset);
    const merged: Extent[] = [];
    for (const extent of all) {
      const last = merged[merged.length - 1];
      if (last && extent.offset <= last.offset + last.length)
        last.length = Math.max(last.length, extent.offset + extent.length - last.offset);
      else merged.push({ ...extent });
    }
    return merged;
  }

  async read(target: Buffer, offset: number): Promise<void> {
    await this.image.read(target, offset);
    const { window } = this.backing;
    // The parts of the read inside the window that the image never wrote: the OS layer's.
    const end = Math.min(offset + target.length, window.offset + window.size);
    let at = Math.max(offset, window.offset);
    const reads: Promise<void>[] = [];
    for (let i = this.firstWrittenEndingAfter(at); i < this.written.length; i++) {
      const w = this.written[i];
      if (at >= end) break;
      if (w.offset + w.length <= at) continue;
      if (w.offset > at) reads.push(this.readOs(target, offset, at, Math.min(w.offset, end)));
      at = Math.max(at, w.offset + w.length);
    }
    if (at < end) reads.push(this.readOs(target, offset, at, end));
    await Promise.all(reads);
  }

  /** Index of the first written range that ends after `offset` (binary search). */
  private firstWrittenEndingAfter(offset: number): number {
    let lo = 0;
    let hi = this.written.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.written[mid].offset + this.written[mid].length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Fills image bytes [from, to) of `target` (which starts at image offset `offset`) from the OS volume. */
  private async readOs(target: Buffer, offset: number, from: number, to: number): Promise<void> {
    const { volume, window, clusterSize } = this.backing;
    const volumeFrom = from - window.offset;
    const volumeTo = Math.min(to - window.offset, volume.size);
    if (volumeTo <= volumeFrom) return;
    const piece = target.subarray(from - offset, from - offset + (volumeTo - volumeFrom));
    await volume.disk.read(piece, volume.start + volumeFrom);
    // Free clusters read as zeros, whatever the OS layer's file holds there.
    for (let c = Math.floor(volumeFrom / clusterSize); c * clusterSize < volumeTo; c++) {
      if (this.inUse(c)) continue;
      const start = Math.max(c * clusterSize, volumeFrom) - volumeFrom;
      piece.fill(0, start, Math.min((c + 1) * clusterSize, volumeTo) - volumeFrom);
    }
  }

  close(): Promise<void> {
    return this.image.close();
  }
}

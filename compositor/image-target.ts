import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { AllocatingWriter, BLOCK_MAPPED_FORMATS, convertDisk, createDiskWriter, openDisk } from '../disk';
import { BackedDisk, backWithOsVolume, type OsBacking } from './backed-image';
import { completeDisk, type OutputFormat, type PartitionContents } from './disk-image';
import { MiB, windowsPartition, type DiskLayout } from './disk-layout';
import type { ProgressListener, ServedVolume, VolumeRef } from './native';
import { cloneVolume, cloneVolumeInto, copyVolumeData, growVolume } from './volume';

/**
 * Where a compose builds the image's Windows volume, and how that becomes the output file.
 *
 * Block-mapped formats (vhdx, vhd, vmdk) are written in place: the NTFS core gets the output
 * container itself as its device (native/ntfs/mapped-device.c), so every byte of the image is
 * written once, into the file that will be the image. The other formats (raw, vhd-fixed, and
 * vmdk-stream, which must be written front to back) are built the same way in a VHDX in the work
 * folder and converted at the end.
 */
export interface ImageTarget {
  /** The Windows volume as the NTFS core names it. */
  readonly volume: string;
  /** Clones the OS layer's volume into the Windows partition and grows it to fill the partition. */
  placeOsVolume(os: VolumeRef, osSize: number, options: TargetOptions): Promise<void>;
  /** Writes the partition table, the other partitions and the format's metadata: the output appears. */
  finish(contents: Omit<PartitionContents, 'windows'>, options: TargetOptions): Promise<void>;
  /** Removes whatever was written (the work folder goes with withWorkDir). */
  abort(): Promise<void>;
}

export interface TargetOptions {
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export async function createImageTarget(
  format: OutputFormat,
  out: string,
  layout: DiskLayout,
  work: string,
  identity: string,
): Promise<ImageTarget> {
  if (!BLOCK_MAPPED_FORMATS.includes(format))
    return ConvertedTarget.create(format, out, layout, work, identity);
  const writer = await createDiskWriter(format, out, { virtualSize: layout.size, identity });
  if (!(writer instanceof AllocatingWriter)) throw new Error(`${format} writer cannot share its blocks`);
  return MappedTarget.create(writer, layout, work);
}

/**
 * The OS volume's own structures as they will be once it is grown to `size`, in a sparse file.
 * ntfsresize takes only a file. It reads and rewrites the MFT, $Bitmap and the boot sectors,
 * never files' data, so a copy of the metadata (megabytes) stands in for the volume; everything
 * it holds afterwards is copied over the cloned volume (copyVolumeData).
 */
async function grownMetadata(
  os: VolumeRef,
  osSize: number,
  size: number,
  work: string,
  options: TargetOptions,
): Promise<string> {
  const metadata = path.join(work, 'metadata.ntfs');
  await cloneVolume(os, metadata, { size, metadataOnly: true, signal: options.signal });
  await growVolume(metadata, osSize, size, options);
  return metadata;
}

class MappedTarget implements ImageTarget {
  private constructor(
    private readonly writer: AllocatingWriter,
    private readonly layout: DiskLayout,
    private readonly work: string,
    private readonly mapFile: string,
  ) {}

  static async create(writer: AllocatingWriter, layout: DiskLayout, work: string): Promise<MappedTarget> {
    const mapFile = path.join(work, 'image.map');
    const windows = windowsPartition(layout);
    try {
      await writer.share(mapFile, { offset: windows.offset, size: windows.size });
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return new MappedTarget(writer, layout, work, mapFile);
  }

  get volume(): string {
    return `mapped:${this.mapFile}`;
  }

  /**
   * Makes the volume read through to `os` where it is never written (backed-image.ts) instead of
   * cloning it: for a work image that is converted, never for an output.
   */
  backWith(os: ServedVolume & { mapFile: string }): Promise<OsBacking> {
    return backWithOsVolume(this.mapFile, os, windowsPartition(this.layout), this.work);
  }

  /** With `cloneData` false, the volume already shows the OS volume (backWith): only growing is left. */
  async placeOsVolume(
    os: VolumeRef,
    osSize: number,
    options: TargetOptions,
    cloneData = true,
  ): Promise<void> {
    const size = windowsPartition(this.layout).size;
    // The grown metadata needs only the OS layer: it is made while the clone copies the data.
    const grown = size > osSize ? grownMetadata(os, osSize, size, this.work, options) : undefined;
    grown?.catch(() => undefined); // awaited below; a failure meanwhile is not "unhandled"
    try {
      if (cloneData) await cloneVolumeInto(os, this.volume, options);
    } finally {
      await Promise.allSettled([grown]); // no core process left writing into the work folder
    }
    if (!grown) return;
    const metadata = await grown;
    await copyVolumeData(metadata, this.volume, options);
    await fs.rm(metadata);
  }

  async finish(contents: Omit<PartitionContents, 'windows'>, options: TargetOptions): Promise<void> {
    try {
      await this.writer.adoptShared(this.mapFile);
    } catch (err) {
      await this.writer.abort();
      throw err;
    }
    await completeDisk(this.writer, this.layout, contents, options);
  }

  abort(): Promise<void> {
    return this.writer.abort();
  }
}

/**
 * Blocks of the work VHDX: small, because a block that shows the OS volume is copied in whole at
 * its first write (a changed MFT record or directory index costs 1 MiB, not 32).
 */
const WORK_BLOCK_SIZE = MiB;

/**
 * Formats whose writer cannot share its blocks (raw and vhd-fixed are flat, vmdk-stream is
 * written front to back): the image is built in a VHDX in the work folder, then converted. The
 * work VHDX holds only what the compose writes; the OS volume's data shows through from the OS
 * layer (backed-image.ts), so the conversion reads it once, from where it already is.
 */
class ConvertedTarget implements ImageTarget {
  private backing: OsBacking | undefined;

  private constructor(
    private readonly inner: MappedTarget,
    private readonly temporary: string,
    private readonly format: OutputFormat,
    private readonly out: string,
    private readonly identity: string,
  ) {}

  static async create(
    format: OutputFormat,
    out: string,
    layout: DiskLayout,
    work: string,
    identity: string,
  ): Promise<ConvertedTarget> {
    const temporary = path.join(work, 'image.vhdx');
    const writer = (await createDiskWriter('vhdx', temporary, {
      virtualSize: layout.size,
      identity,
      blockSize: WORK_BLOCK_SIZE,
    })) as AllocatingWriter;
    return new ConvertedTarget(
      await MappedTarget.create(writer, layout, work),
      temporary,
      format,
      out,
      identity,
    );
  }

  get volume(): string {
    return this.inner.volume;
  }

  async placeOsVolume(os: VolumeRef, osSize: number, options: TargetOptions): Promise<void> {
    // An OS layer the core cannot read in place (a compressed disk, served by this process) is cloned.
    if (typeof os === 'string' || !os.mapFile) return this.inner.placeOsVolume(os, osSize, options);
    this.backing = await this.inner.backWith({ ...os, mapFile: os.mapFile });
    await this.inner.placeOsVolume(os, osSize, options, false);
  }

  async finish(contents: Omit<PartitionContents, 'windows'>, options: TargetOptions): Promise<void> {
    await this.inner.finish(contents, { signal: options.signal });
    const image = await openDisk(this.temporary);
    const disk = this.backing ? new BackedDisk(image, this.backing) : image;
    try {
      await convertDisk(disk, this.format, this.out, {
        identity: this.identity,
        signal: options.signal,
        onProgress:
          options.onProgress && (({ done, total }) => options.onProgress?.({ phase: 'write', done, total })),
      });
    } finally {
      await disk.close();
    }
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}

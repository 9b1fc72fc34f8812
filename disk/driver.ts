import type { InputFile } from './file-io';
import type { DiskIdentity } from './identity';
import type { DiskFormat, DiskWriter, VirtualDisk, WriterOptions } from './types';

/**
 * One disk format, described the way qemu's `BlockDriver` describes one: how its files are
 * recognised and opened, and how a new one is written. disk/formats/index.ts lists every driver;
 * openDisk, createDiskWriter and everything else that depends on the format go through that list.
 */
export interface DiskDriver {
  readonly name: DiskFormat;
  /**
   * Recognises and opens the format's files. A variant stored in the same container has none:
   * its family's reader opens it and reports it by its own name (vhd's opens fixed VHDs as
   * vhd-fixed, vmdk's opens streamOptimized ones as vmdk-stream).
   */
  readonly reader?: DiskReader;
  /** A writer for a new disk at `path`; the file appears there only when finish() succeeds. */
  createWriter(path: string, options: WriterOptions, identity: DiskIdentity): Promise<DiskWriter>;
  /**
   * A writer for a differencing (child) disk of `parent` (WriterOptions.parent, opened; the writer
   * closes it): formats without one cannot be written as children.
   */
  createChildWriter?(
    path: string,
    options: WriterOptions,
    identity: DiskIdentity,
    parent: VirtualDisk,
  ): Promise<DiskWriter>;
  /**
   * Its writer is an AllocatingWriter, which can share its blocks with another process
   * (shared-block-map.ts): the compositor's NTFS core then writes the image's volume straight
   * into the container.
   */
  readonly blockMapped: boolean;
}

export interface DiskReader {
  /**
   * Whether the file is this format's, from its first and last 512 bytes (fewer when the file is
   * smaller) and its size. Readers are asked in the list's order; raw's says yes to every file.
   */
  probe(head: Buffer, tail: Buffer, size: number): boolean;
  /** Opens the file; DiskFormatError names what is wrong with it. */
  open(file: InputFile): Promise<VirtualDisk>;
}

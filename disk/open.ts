import { InputFile } from './file-io';
import { DiskIdentity } from './identity';
import { FlatDisk, FlatWriter } from './formats/raw';
import { createVhdWriter, isVhd, openVhd } from './formats/vhd';
import { createVhdxWriter, isVhdx, openVhdx } from './formats/vhdx';
import { createVmdkWriter, isVmdk, openVmdk } from './formats/vmdk';
import { createVmdkStreamWriter, StreamWriterOptions } from './formats/vmdk-stream';
import { DiskFormat, DiskWriter, roundUp, SECTOR_SIZE, VirtualDisk, WriterOptions } from './types';

/**
 * Opens a disk file of any supported format, recognised by content (never by extension):
 * signatures at the start (VHDX, VMDK, dynamic VHD's footer copy) or a VHD footer at the end;
 * anything else is raw.
 */
export async function openDisk(path: string): Promise<VirtualDisk> {
  const file = await InputFile.open(path);
  try {
    const head = await file.readStructure('file start', 0, Math.min(file.size, 512));
    const tail = await file.readStructure('file end', Math.max(0, file.size - 512), Math.min(file.size, 512));
    if (isVhdx(head)) return await openVhdx(file);
    if (isVmdk(head)) return await openVmdk(file);
    if (file.size >= 512 && isVhd(head, tail)) return await openVhd(file);
    return await FlatDisk.open(file, 'raw', file.size);
  } catch (err) {
    await file.close();
    throw err;
  }
}

/**
 * Creates a writer for a new disk of `format` at `path`. The file appears at `path` only when
 * the writer's finish() succeeds.
 */
/** Formats whose writer is an AllocatingWriter, which can share its blocks with another process. */
export const BLOCK_MAPPED_FORMATS: readonly DiskFormat[] = ['vhd', 'vhdx', 'vmdk'];

export function createDiskWriter(
  format: DiskFormat,
  path: string,
  options: WriterOptions & StreamWriterOptions,
): Promise<DiskWriter> {
  const identity = DiskIdentity.of(options.identity);
  switch (format) {
    case 'raw':
      return FlatWriter.create('raw', path, roundUp(options.virtualSize, SECTOR_SIZE));
    case 'vhd':
      return createVhdWriter(path, options.virtualSize, false, identity);
    case 'vhd-fixed':
      return createVhdWriter(path, options.virtualSize, true, identity);
    case 'vhdx':
      return createVhdxWriter(path, options.virtualSize, identity, options.blockSize);
    case 'vmdk':
      return createVmdkWriter(path, options.virtualSize, identity);
    case 'vmdk-stream':
      return createVmdkStreamWriter(path, options.virtualSize, identity, options);
  }
}

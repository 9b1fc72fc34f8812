/** The disk/ package as other parts of Lamina use it; see disk/README.md. */
export { convertDisk, copyDisk } from './convert';
export type { CopyOptions, CopyProgress } from './convert';
export { DiskFormatError } from './errors';
export { OutputFile, readFileChunks } from './file-io';
export { BLOCK_MAPPED_FORMATS, createDiskWriter, openDisk } from './open';
export { buildGpt, buildMbr, PARTITION_TYPE, readPartitionTable, writeTableSegments } from './partition';
export type { Partition, PartitionSpec, PartitionTable } from './partition';
export { DISK_FORMATS } from './types';
export type { DiskFormat, DiskWriter, Extent, VirtualDisk, WriterOptions } from './types';
export { AllocatingWriter } from './allocating-writer';
export { BlockMappedDisk } from './block-mapped-disk';
export { writeMapBacking } from './shared-block-map';
export type { DiskWindow, MapBacking } from './shared-block-map';

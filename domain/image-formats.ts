import type { DiskFormat } from './disk-formats';

/**
 * The formats a published image is delivered in, as templates, connector types and the API spell
 * them. Each is written as one of disk/'s container formats (CONTAINER_FORMAT).
 */
export const IMAGE_FORMATS = ['VHD', 'VHDX', 'VMDK'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/**
 * The container disk/ writes for each image format: dynamic VHD, dynamic VHDX, monolithic sparse
 * VMDK (what hypervisors import; the stream-optimized and fixed variants are for the CLI).
 */
export const CONTAINER_FORMAT: Readonly<Record<ImageFormat, DiskFormat>> = {
  VHD: 'vhd',
  VHDX: 'vhdx',
  VMDK: 'vmdk',
};

/** The containers' own size limits, whatever the connector (VHD tops out at 2040 GB). */
export const IMAGE_FORMAT_MAX_GB: Readonly<Record<ImageFormat, number>> = {
  VHD: 2040,
  VHDX: 65536,
  VMDK: 63488,
};

/**
 * Every disk container format Lamina reads and writes, by the names the CLI's `--to` takes and
 * disk/ reports. Each has one driver in disk/formats/ (listed in disk/formats/index.ts).
 */
export const DISK_FORMATS = ['raw', 'vhd', 'vhd-fixed', 'vhdx', 'vmdk', 'vmdk-stream'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];

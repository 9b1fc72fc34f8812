import type { DiskDriver } from '../driver';
import { rawDriver } from './raw';
import { vhdDriver, vhdFixedDriver } from './vhd';
import { vhdxDriver } from './vhdx';
import { vmdkDriver } from './vmdk';
import { vmdkStreamDriver } from './vmdk-stream';

/**
 * Every disk format Lamina reads and writes (driver.ts): a new format is one module here and one
 * line in this list, and its name in domain/disk-formats.ts. openDisk asks the readers in this
 * order and takes the first that recognises the file; raw recognises every file, so it stays last.
 */
export const DISK_DRIVERS: readonly DiskDriver[] = [
  vhdxDriver,
  vmdkDriver,
  vmdkStreamDriver,
  vhdDriver,
  vhdFixedDriver,
  rawDriver,
];

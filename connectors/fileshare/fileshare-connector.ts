import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { checkMountPoint } from '../../config/host-paths';
import { optionalText, uncPath } from '../connector-type';
import type { Connector, ConnectorCheck } from '../connector';
import { probeWritable } from '../write-probe';
import type { CopyProgress, ImageStore, StoredImage } from '../image-store';
import { resumableCopy } from './resumable-copy';

export const fileshareConnectorSettings = z.object({
  path: uncPath.describe('Share and folder the images are written to'),
  user: optionalText.describe('Account with write access; the appliance account when unset'),
  mountPoint: z
    .string()
    .regex(/^\//, 'must be an absolute path')
    .describe(
      "Where the appliance has the share mounted (e.g. by cifs-utils or autofs): a mount point outside the system folders and Lamina's own",
    ),
  maxMiBps: z
    .number()
    .positive()
    .optional()
    .describe('Bandwidth limit for publishing, so a copy does not saturate the link to the share'),
});
export type FileshareConnectorSettings = z.infer<typeof fileshareConnectorSettings>;

/**
 * Publishes image files into a Windows share or PVS store the appliance has mounted. Images are
 * named by the workflow (`<template>_<yyyy-MM-dd_HH-mm-ss>.<ext>`) and copied under a temporary
 * name, so PVS or MCS never pick up a half-written disk.
 */
export class FileshareConnector implements Connector, ImageStore {
  readonly type = 'fileshare';
  readonly images = this;

  constructor(private readonly settings: FileshareConnectorSettings) {}

  async test(): Promise<ConnectorCheck[]> {
    const dir = this.settings.mountPoint;
    try {
      await checkMountPoint(dir, []);
      await probeWritable(dir);
      return [{ field: 'mountPoint', ok: true, message: `${this.settings.path} (at ${dir}) is writable` }];
    } catch (err) {
      return [{ field: 'mountPoint', ok: false, message: `${dir}: ${(err as Error).message}` }];
    }
  }

  locationOf(fileName: string): string {
    return `${this.settings.path.replace(/\\$/, '')}\\${fileName}`;
  }

  async putImage(
    source: string,
    fileName: string,
    options: { resumeFrom: number; onProgress: (progress: CopyProgress) => void; signal?: AbortSignal },
  ): Promise<StoredImage> {
    const target = this.localPath(fileName);
    // Checked on every copy: a share that came unmounted must not fill the appliance's own disk instead.
    await checkMountPoint(this.settings.mountPoint, []);
    const { sizeBytes, sha256 } = await resumableCopy(source, target, {
      partial: this.partialPath(fileName),
      resumeFrom: options.resumeFrom,
      maxBytesPerSecond: this.settings.maxMiBps && this.settings.maxMiBps * 2 ** 20,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    return { path: target, sizeBytes, sha256 };
  }

  async removeImage(fileName: string): Promise<void> {
    await fs.rm(this.localPath(fileName), { force: true });
    await fs.rm(this.partialPath(fileName), { force: true });
  }

  /** Where a file of the share is on the appliance (under the mount point); Image Portability reads its disks there. */
  localPath(fileName: string): string {
    if (fileName !== path.basename(fileName) || fileName.startsWith('.')) {
      throw new Error(`'${fileName}' is not a plain file name`);
    }
    return path.join(this.settings.mountPoint, fileName);
  }

  /** Hidden, and a fixed name per image: a resumed copy finds the bytes its predecessor wrote. */
  private partialPath(fileName: string): string {
    return path.join(this.settings.mountPoint, `.${fileName}.partial`);
  }
}

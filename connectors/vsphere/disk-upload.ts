import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../lib/processes';
import {
  datastorePath,
  retryDroppedConnection,
  type DatastoreFiles,
  type DatastoreLocation,
  type TransferOptions,
} from './datastore-files';
import { flatDescriptor, isDescriptor, parseExtents, sectorsOf } from './vmdk-descriptor';

/**
 * Uploading a local disk (any format qemu-img reads) as a VMDK on a datastore, resumably.
 *
 * The datastore file service only replaces whole files, so the disk is stored as a split flat VMDK:
 * extent files of `extentBytes` each (`name-flat.vmdk`, `name-f002.vmdk`, …) and the descriptor
 * `name.vmdk`, written last so that its presence means "complete". Resuming is therefore a matter of
 * asking the datastore which extents already have their full size and sending the rest: a dropped
 * connection re-sends one extent, a retried activity (after a worker crash) skips every finished one.
 * A disk that fits one extent is exactly ESXi's native layout (descriptor + `-flat.vmdk`).
 *
 * Cancelling (AbortSignal) deletes what was uploaded; any other failure leaves the extents for a retry
 * to resume, and the caller's compensation removes them with deleteDisk if it gives up.
 */
export interface DiskTransferOptions extends TransferOptions {
  /** Size of each extent file, the unit of resume; default 256 MiB. */
  extentBytes?: number;
  /** Where a non-raw source is expanded to raw before upload; default the OS temp folder. */
  scratchDir?: string;
  /** Attempts per file after dropped connections; default 5. */
  attempts?: number;
  /** Told about each dropped connection before the file is sent again (for the activity's log). */
  onRetry?: (err: Error) => void;
}

export interface UploadedDisk {
  /** `[datastore] folder/name.vmdk`, the path a VM's disk backing uses. */
  descriptor: string;
  capacityBytes: number;
  extentFiles: string[];
}

const DEFAULT_EXTENT_BYTES = 256 * 1024 * 1024;

/** `folder/name.vmdk` → `folder/name-flat.vmdk`, `folder/name-f002.vmdk`, … (VMware's own naming). */
export function extentPath(descriptorPath: string, index: number): string {
  const base = descriptorPath.replace(/\.vmdk$/i, '');
  return index === 0 ? `${base}-flat.vmdk` : `${base}-f${String(index + 1).padStart(3, '0')}.vmdk`;
}

export async function uploadDisk(
  files: DatastoreFiles,
  localDisk: string,
  target: DatastoreLocation,
  options: DiskTransferOptions = {},
): Promise<UploadedDisk> {
  if (!/\.vmdk$/i.test(target.path)) throw new Error(`disk path '${target.path}' must end in .vmdk`);
  const extentBytes = options.extentBytes ?? DEFAULT_EXTENT_BYTES;
  if (extentBytes % 512 !== 0) throw new Error('extentBytes must be a multiple of 512');
  const raw = await rawImage(localDisk, options);
  const directory = { ...target, path: path.posix.dirname(target.path) };
  let createdDirectory = false;
  try {
    const extents = [];
    for (let start = 0, i = 0; start < raw.size; start += extentBytes, i++) {
      const end = Math.min(start + extentBytes, raw.size);
      extents.push({ start, end, location: { ...target, path: extentPath(target.path, i) } });
    }
    createdDirectory = directory.path !== '.' && (await files.makeDirectory(directory));
    type Extent = (typeof extents)[number];
    const isComplete = async (e: Extent) =>
      (await files.size(e.location, options.signal)) === e.end - e.start;
    const send = async (e: Extent) => {
      await retryDroppedConnection(async () => {
        if (await isComplete(e)) return;
        await files.upload(
          e.location,
          { file: raw.file, start: e.start, end: e.end },
          { ...options, progressBase: e.start, progressTotal: raw.size },
        );
      }, options);
      options.onProgress?.({ phase: 'upload', done: e.end, total: raw.size });
    };
    // Before the descriptor marks the disk complete, every extent is checked again: one lost meanwhile
    // (a datastore or simulator reset during the upload) is sent again instead of leaving a disk with holes.
    let pending: Extent[] = extents;
    for (let pass = 1; pending.length > 0; pass++) {
      if (pass > 2) {
        throw new Error(
          `extents of ${datastorePath(target)} disappear from the datastore as they are uploaded: ` +
            pending.map((e) => e.location.path).join(', '),
        );
      }
      for (const extent of pending) await send(extent);
      pending = [];
      for (const extent of extents) {
        if (!(await retryDroppedConnection(() => isComplete(extent), options))) pending.push(extent);
      }
    }
    const descriptor = flatDescriptor(
      extents.map((e) => ({
        sectors: sectorsOf(e.end - e.start),
        file: path.posix.basename(e.location.path),
      })),
    );
    const descriptorFile = path.join(raw.scratch, 'descriptor.vmdk');
    await fs.writeFile(descriptorFile, descriptor);
    await retryDroppedConnection(
      () => files.upload(target, { file: descriptorFile }, { signal: options.signal }),
      options,
    );
    return {
      descriptor: datastorePath(target),
      capacityBytes: raw.size,
      extentFiles: extents.map((e) => datastorePath(e.location)),
    };
  } catch (err) {
    if (options.signal?.aborted) {
      await deleteDisk(files, target);
      if (createdDirectory) await files.remove({ ...directory, path: `${directory.path}/` });
    }
    throw err;
  } finally {
    await fs.rm(raw.scratch, { recursive: true, force: true });
  }
}

/**
 * Deletes a disk's descriptor and every extent file it lists; without a descriptor (an upload that
 * never finished) the extents are found by their names. Deleting a missing disk does nothing.
 */
export async function deleteDisk(files: DatastoreFiles, descriptor: DatastoreLocation): Promise<void> {
  const folder = path.posix.dirname(descriptor.path);
  let extentPaths: string[];
  if ((await files.size(descriptor)) !== undefined) {
    const text = await files.readText(descriptor);
    extentPaths = isDescriptor(text)
      ? parseExtents(text).flatMap((e) => (e.file ? [path.posix.join(folder, e.file)] : []))
      : [];
  } else {
    extentPaths = [];
    for (
      let i = 0;
      (await files.size({ ...descriptor, path: extentPath(descriptor.path, i) })) !== undefined;
      i++
    ) {
      extentPaths.push(extentPath(descriptor.path, i));
    }
  }
  for (const extent of extentPaths) await files.remove({ ...descriptor, path: extent });
  await files.remove(descriptor);
}

/** The disk as a raw file: the source itself when raw, else a sparse raw copy in a scratch folder. */
async function rawImage(
  localDisk: string,
  options: DiskTransferOptions,
): Promise<{ file: string; size: number; scratch: string }> {
  const info = JSON.parse(await run('qemu-img', ['info', '--output=json', localDisk])) as {
    format: string;
    'virtual-size': number;
  };
  const scratch = await fs.mkdtemp(path.join(options.scratchDir ?? os.tmpdir(), 'lamina-disk-upload-'));
  if (info.format === 'raw') return { file: localDisk, size: info['virtual-size'], scratch };
  const file = path.join(scratch, 'disk.raw');
  options.onProgress?.({ phase: 'prepare', done: 0, total: info['virtual-size'] });
  try {
    await run('qemu-img', ['convert', '-O', 'raw', localDisk, file], {
      signal: options.signal,
      timeoutMs: 6 * 3600_000,
    });
  } catch (err) {
    await fs.rm(scratch, { recursive: true, force: true });
    throw err;
  }
  return { file, size: info['virtual-size'], scratch };
}

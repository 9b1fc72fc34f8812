import fs from 'node:fs/promises';
import path from 'node:path';
import { retryDroppedConnection, type DatastoreFiles, type DatastoreLocation } from './datastore-files';
import type { DiskTransferOptions } from './disk-upload';
import { isDescriptor, parseExtents } from './vmdk-descriptor';

/**
 * Downloading a VMDK from a datastore into a local folder, file by file under the same names, so the
 * local descriptor still points at its extents and qemu-img (or Lamina's disk readers) open it as is.
 * A descriptor disk (ESXi's `name.vmdk` + `name-flat.vmdk`, split disks) brings its extents along; a
 * single-file VMDK (sparse, streamOptimized) comes alone. Each file resumes where a previous attempt
 * stopped (HTTP Range); a file already complete locally is not fetched again.
 */
export interface DownloadedDisk {
  /** Local path of the descriptor (or of the single-file VMDK). */
  file: string;
  files: string[];
  bytes: number;
}

const DESCRIPTOR_MAX_BYTES = 64 * 1024;

export async function downloadDisk(
  files: DatastoreFiles,
  source: DatastoreLocation,
  localFile: string,
  options: DiskTransferOptions = {},
): Promise<DownloadedDisk> {
  const sourceSize = await files.size(source, options.signal);
  if (sourceSize === undefined) throw new Error(`disk ${source.datastore}:${source.path} does not exist`);
  const folder = path.dirname(localFile);
  await fs.mkdir(folder, { recursive: true });
  const descriptor = sourceSize <= DESCRIPTOR_MAX_BYTES ? await files.readText(source, options.signal) : '';
  const remoteFolder = path.posix.dirname(source.path);
  const parts = isDescriptor(descriptor)
    ? parseExtents(descriptor).flatMap((e) =>
        e.file
          ? [
              {
                remote: { ...source, path: path.posix.join(remoteFolder, e.file) },
                local: path.join(folder, e.file),
              },
            ]
          : [],
      )
    : [{ remote: source, local: localFile }];
  const sizes = await Promise.all(parts.map((p) => files.size(p.remote, options.signal)));
  const total = sizes.reduce<number>((sum, s) => sum + (s ?? 0), 0);
  const created: string[] = [];
  try {
    let done = 0;
    for (const [i, part] of parts.entries()) {
      const size = sizes[i];
      if (size === undefined)
        throw new Error(`extent ${part.remote.path} of ${source.path} is missing on the datastore`);
      const have = await localSize(part.local);
      if (have === undefined) created.push(part.local);
      if (have !== size) {
        const base = done;
        await retryDroppedConnection(
          () =>
            files.download(part.remote, part.local, {
              signal: options.signal,
              onProgress: (p) => options.onProgress?.({ phase: 'download', done: base + p.done, total }),
            }),
          options,
        );
      }
      done += size;
      options.onProgress?.({ phase: 'download', done, total });
    }
    if (isDescriptor(descriptor)) await fs.writeFile(localFile, descriptor);
    return {
      file: localFile,
      files: [...(isDescriptor(descriptor) ? [localFile] : []), ...parts.map((p) => p.local)],
      bytes: total,
    };
  } catch (err) {
    // Cancelling removes what this call created; other failures keep partial files for a resume.
    if (options.signal?.aborted) await Promise.all(created.map((f) => fs.rm(f, { force: true })));
    throw err;
  }
}

async function localSize(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return undefined;
  }
}

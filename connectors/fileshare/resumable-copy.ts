import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isZero } from '../../disk/zero';
import type { CopyProgress } from '../image-store';

const CHUNK = 4 * 2 ** 20;

export interface ResumableCopyOptions {
  /** The temporary file the copy is written to; renamed to the target when complete. */
  partial: string;
  /** Bytes a previous attempt reported as written; they are kept and not copied again. */
  resumeFrom: number;
  maxBytesPerSecond?: number;
  onProgress: (progress: CopyProgress) => void;
  /** Stops the copy between chunks; the partial file stays for the caller to resume or remove. */
  signal?: AbortSignal;
}

/**
 * Writes all of `data` at `offset`. A file system running out of space may write part of it and say so
 * (a short write) before it fails the next write: the rest is written or fails here, so a chunk is
 * never reported copied that is not.
 */
async function writeWhole(output: fs.FileHandle, data: Buffer, offset: number): Promise<void> {
  for (let written = 0; written < data.length;) {
    const { bytesWritten } = await output.write(data, written, data.length - written, offset + written);
    if (bytesWritten === 0) throw new Error(`writing at byte ${offset + written} wrote nothing`);
    written += bytesWritten;
  }
}

/**
 * Copies `source` to `target` in chunks, skipping all-zero chunks (the target stays sparse), reporting
 * each chunk written. A retry passes the last reported offset and continues from there; a target that
 * already exists means an earlier attempt finished (it is only ever created by the final rename).
 * Answers the offset this call started copying at: 0 for a whole copy, the source's size when there
 * was nothing left to copy.
 */
export async function resumableCopy(
  source: string,
  target: string,
  options: ResumableCopyOptions,
): Promise<{ resumedFrom: number }> {
  const exists = await fs.stat(target).catch(() => undefined);
  if (exists) return { resumedFrom: exists.size };
  const total = (await fs.stat(source)).size;
  const partialSize = (await fs.stat(options.partial).catch(() => undefined))?.size ?? -1;
  // Only trust a partial file that holds at least what was reported; otherwise start over.
  const start = partialSize >= options.resumeFrom ? options.resumeFrom - (options.resumeFrom % CHUNK) : 0;
  const input = await fs.open(source, 'r');
  // The source is closed even when the partial file cannot be opened (a share mounted read-only).
  const output = await fs.open(options.partial, start > 0 ? 'r+' : 'w').catch(async (err: unknown) => {
    await input.close();
    throw err;
  });
  try {
    const buffer = Buffer.alloc(CHUNK);
    const begun = Date.now();
    for (let done = start; done < total;) {
      const { bytesRead } = await input.read(buffer, 0, Math.min(CHUNK, total - done), done);
      if (bytesRead === 0) throw new Error(`${source} shrank while being copied`);
      const chunk = buffer.subarray(0, bytesRead);
      if (!isZero(chunk)) await writeWhole(output, chunk, done);
      // A skipped chunk is a hole, but the partial file's size must still cover it: a resume trusts
      // only a partial file that reaches the offset reported (ahead of the file, data is rewritten).
      else await output.truncate(done + bytesRead);
      done += bytesRead;
      options.onProgress({ done, total });
      if (options.maxBytesPerSecond) {
        const due = begun + ((done - start) / options.maxBytesPerSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now(), undefined, { signal: options.signal });
      }
    }
    await output.truncate(total);
    await output.sync();
  } finally {
    await output.close();
    await input.close();
  }
  await fs.rename(options.partial, target);
  return { resumedFrom: start };
}

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
 * Copies `source` to `target` in chunks, skipping all-zero chunks (the target stays sparse), reporting
 * each chunk written. A retry passes the last reported offset and continues from there; a target that
 * already exists means an earlier attempt finished (it is only ever created by the final rename).
 */
export async function resumableCopy(
  source: string,
  target: string,
  options: ResumableCopyOptions,
): Promise<void> {
  const exists = await fs.stat(target).catch(() => undefined);
  if (exists) return;
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
      if (!isZero(chunk)) await output.write(chunk, 0, bytesRead, done);
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
}

import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { OutputFile, readFileChunks } from '../../disk';
import { isZero } from '../../disk/zero';
import type { CopyProgress } from '../image-store';

/**
 * Where a resumed copy starts: a multiple of this at or before the byte reported, which is where a chunk
 * of readFileChunks (4 MiB) started, so the reads stay aligned for direct I/O.
 */
const RESUME_UNIT = 4 * 2 ** 20;

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
 * Answers the offset this call started copying at: 0 for a whole copy, the source's size when there
 * was nothing left to copy.
 *
 * The next chunk is read while this one is written, and both bypass the page cache where the file
 * systems allow it (disk/'s readFileChunks and OutputFile): the image was just written and hashed past
 * the cache, and copying it through the cache cost a fresh page for every 4 KiB on both sides, then
 * writeback of the whole file at the final fsync. The copy is made durable, then renamed, and the
 * rename made durable too.
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
  const start =
    partialSize >= options.resumeFrom ? options.resumeFrom - (options.resumeFrom % RESUME_UNIT) : 0;
  const output = await OutputFile.openTemporary(options.partial, target, start > 0);
  try {
    const begun = Date.now();
    let done = start;
    for await (const chunk of readFileChunks(source, start)) {
      if (!isZero(chunk)) await output.writeAt(chunk, done);
      // A skipped chunk is a hole, but the partial file's size must still cover it: a resume trusts
      // only a partial file that reaches the offset reported (ahead of the file, data is rewritten).
      else await output.truncate(done + chunk.length);
      done += chunk.length;
      options.onProgress({ done, total });
      options.signal?.throwIfAborted();
      if (options.maxBytesPerSecond) {
        const due = begun + ((done - start) / options.maxBytesPerSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now(), undefined, { signal: options.signal });
      }
    }
    if (done !== total) throw new Error(`${source} changed size while being copied`);
    await output.truncate(total);
    await output.commit();
  } catch (err) {
    await output.close();
    throw err;
  }
  return { resumedFrom: start };
}

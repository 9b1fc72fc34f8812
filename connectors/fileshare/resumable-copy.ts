import { createHash, type Hash } from 'node:crypto';
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

export interface CopiedFile {
  /** The offset this call started copying at: 0 for a whole copy, the size when nothing was left. */
  resumedFrom: number;
  sizeBytes: number;
  /** SHA-256 of the bytes copied, all of them (those an earlier attempt copied too). */
  sha256: string;
}

/** Feeds `hash` the first `length` bytes of `file`. */
async function hashPrefix(hash: Hash, file: string, length: number): Promise<void> {
  if (length === 0) return;
  let offset = 0;
  for await (const chunk of readFileChunks(file)) {
    hash.update(chunk.subarray(0, Math.min(chunk.length, length - offset)));
    offset += chunk.length;
    if (offset >= length) break;
  }
}

/**
 * Copies `source` to `target` in chunks, skipping all-zero chunks (the target stays sparse), reporting
 * each chunk written. A retry passes the last reported offset and continues from there; a target that
 * already exists means an earlier attempt finished (it is only ever created by the final rename).
 *
 * It hashes what it copies as it goes, so a caller that records the file's SHA-256 (a published image,
 * a layer disk) does not read the whole file again for it: that was a second pass over every image
 * published to a share. Bytes an earlier attempt copied are hashed from the source before the copy
 * goes on; a target an earlier attempt finished is hashed whole.
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
): Promise<CopiedFile> {
  const hash = createHash('sha256');
  const exists = await fs.stat(target).catch(() => undefined);
  if (exists) {
    await hashPrefix(hash, target, exists.size);
    return { resumedFrom: exists.size, sizeBytes: exists.size, sha256: hash.digest('hex') };
  }
  const total = (await fs.stat(source)).size;
  const partialSize = (await fs.stat(options.partial).catch(() => undefined))?.size ?? -1;
  // Only trust a partial file that holds at least what was reported; otherwise start over.
  const start =
    partialSize >= options.resumeFrom ? options.resumeFrom - (options.resumeFrom % RESUME_UNIT) : 0;
  if (start > 0) await hashPrefix(hash, source, start);
  const output = await OutputFile.openTemporary(options.partial, target, start > 0);
  try {
    const begun = Date.now();
    let done = start;
    for await (const chunk of readFileChunks(source, start)) {
      if (!isZero(chunk)) await output.writeAt(chunk, done);
      // A skipped chunk is a hole, but the partial file's size must still cover it: a resume trusts
      // only a partial file that reaches the offset reported (ahead of the file, data is rewritten).
      else await output.truncate(done + chunk.length);
      // Before the next chunk is read: readFileChunks reads it into this chunk's buffer.
      hash.update(chunk);
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
  return { resumedFrom: start, sizeBytes: total, sha256: hash.digest('hex') };
}

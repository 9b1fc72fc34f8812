import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { ContainerClient, PageBlobClient } from '@azure/storage-blob';
import { isRestError } from '@azure/storage-blob';
import { openDisk } from '../../disk/open';
import { fixedVhdFooter } from '../../disk/formats/vhd';
import { DiskIdentity } from '../../disk/identity';
import { roundUp, type Extent } from '../../disk/types';
import { isZero } from '../../disk/zero';

const MIB = 2 ** 20;
/** Put Page's largest request; chunks are aligned to it so a resumed upload finds the same ones. */
export const PAGE_CHUNK = 4 * MIB;
const SECTOR = 512;
const FOOTER_SIZE = 512;
/** Put Page requests in flight unless the caller says otherwise. */
export const UPLOAD_CONCURRENCY = 8;
/** Zero detection works in these units; zero runs shorter than one do not split a request. */
const GRANULE = 64 * 1024;

/** What a page blob upload reports and heartbeats: the walk's position and the bytes actually sent. */
export interface PageBlobProgress {
  /** Bytes of the disk walked past (sent, found committed, or zero). */
  done: number;
  total: number;
  /** Bytes sent to the service by this attempt (page data and footer). */
  sent: number;
  /** Everything below this offset is in the blob or zero: the resume token a restart continues from. */
  resume: number;
}

export interface PageBlobUploadOptions {
  /** The previous attempt's last `resume` (a heartbeat detail); the blob's own page ranges decide the rest. */
  resumeFrom?: number;
  /** Put Page requests in flight (each at most 4 MiB). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: PageBlobProgress) => void;
}

export interface PageBlobUploadResult {
  blobName: string;
  /** Blob length: the disk rounded up to whole MiB plus the 512-byte footer. */
  blobSize: number;
  sent: number;
  /** The blob was already complete from an earlier attempt: nothing was sent. */
  alreadyComplete: boolean;
}

/**
 * Uploads a disk of any format disk/ reads as a page blob holding a fixed VHD, as Azure takes it: the
 * guest bytes at their offsets, the size rounded up to whole MiB, a VHD footer after them. Only the disk's
 * allocated extents are read and only non-zero data is sent (a new page blob reads as zeros), in 4 MiB
 * Put Page requests, several in flight.
 *
 * Resumable: the blob is marked with the source's identity (path, size, modification time); an attempt
 * that finds its own partial blob keeps it, skips everything below `resumeFrom` unread, and above it
 * sends only the runs the blob's page ranges do not hold (each run is one Put Page, which is atomic: a
 * run is in the blob whole or not at all). The footer is written last and the blob marked complete
 * after it, so a blob without that mark is never mistaken for a finished disk.
 */
export async function uploadPageBlobVhd(
  container: ContainerClient,
  blobName: string,
  source: string,
  options: PageBlobUploadOptions = {},
): Promise<PageBlobUploadResult> {
  return uploadVhdToPageBlob(container.getPageBlobClient(blobName), source, options);
}

/**
 * The same into one page blob, as its client reaches it (a container's, or a URL with a blob-scoped
 * SAS). With `fresh` the blob is made anew without reading it first: what a token that may only create
 * and write can do (a Compositing Engine's output, activities/ips-engine-prepare.ts), never resuming.
 */
export async function uploadVhdToPageBlob(
  blob: PageBlobClient,
  source: string,
  options: PageBlobUploadOptions & { fresh?: boolean } = {},
): Promise<PageBlobUploadResult> {
  const blobName = blob.name;
  const disk = await openDisk(source);
  try {
    const dataSize = roundUp(disk.virtualSize, MIB);
    const blobSize = dataSize + FOOTER_SIZE;
    const sourceId = await sourceIdentity(source);
    const existing = options.fresh
      ? undefined
      : await blob.getProperties().catch((err: unknown) => {
          if (isRestError(err) && err.statusCode === 404) return undefined;
          throw err;
        });
    const ours = existing?.metadata?.laminasource === sourceId && existing.contentLength === blobSize;
    if (ours && existing.metadata?.laminastate === 'complete') {
      return { blobName, blobSize, sent: 0, alreadyComplete: true };
    }
    let committed: Extent[] = [];
    let watermark = 0;
    if (ours) {
      committed = await committedRanges(blob);
      watermark = options.resumeFrom ?? 0;
    } else {
      // A blob of another source, or none: (re)create it; a new page blob reads as zeros throughout.
      await blob.create(blobSize, {
        metadata: { laminasource: sourceId, laminastate: 'partial' },
        abortSignal: options.signal,
      });
    }
    // Below the token everything is in the blob; above it, chunks touching committed ranges are read
    // again to find which of their runs are missing (reading is local; only sending costs).
    const chunks = chunksOf(disk.extents(), disk.virtualSize).filter((c) => c.offset + c.length > watermark);
    const tracker = new Watermark(chunks, dataSize, watermark);
    let sent = 0;
    const report = () =>
      options.onProgress?.({ done: tracker.value, total: dataSize, sent, resume: tracker.value });
    let next = 0;
    const worker = async () => {
      const buffer = Buffer.allocUnsafe(PAGE_CHUNK);
      while (next < chunks.length) {
        options.signal?.throwIfAborted();
        const chunk = chunks[next++];
        const data = buffer.subarray(0, chunk.length);
        await disk.read(data, chunk.offset);
        for (const run of nonZeroRuns(data)) {
          const at = chunk.offset + run.offset;
          if (committed.some((r) => r.offset <= at && at + run.length <= r.offset + r.length)) continue;
          await blob.uploadPages(data.subarray(run.offset, run.offset + run.length), at, run.length, {
            abortSignal: options.signal,
          });
          sent += run.length;
        }
        tracker.finish(chunk);
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? UPLOAD_CONCURRENCY) }, worker));
    const footer = fixedVhdFooter(dataSize, DiskIdentity.of(sourceId));
    await blob.uploadPages(footer, dataSize, FOOTER_SIZE, { abortSignal: options.signal });
    sent += FOOTER_SIZE;
    await blob.setMetadata(
      { laminasource: sourceId, laminastate: 'complete' },
      { abortSignal: options.signal },
    );
    report();
    return { blobName, blobSize, sent, alreadyComplete: false };
  } finally {
    await disk.close();
  }
}

/** Identifies the source file, so a resumed upload never mixes pages of two different disks. */
async function sourceIdentity(source: string): Promise<string> {
  const stat = await fs.stat(source);
  return createHash('sha256').update(`${source}\0${stat.size}\0${stat.mtimeMs}`).digest('hex').slice(0, 32);
}

/** The ranges the blob holds (Get Page Ranges, page by page; the service's ends are inclusive). */
async function committedRanges(blob: PageBlobClient): Promise<Extent[]> {
  const ranges: Extent[] = [];
  for await (const range of blob.listPageRanges()) {
    if (!range.isClear) ranges.push({ offset: range.start, length: range.end - range.start + 1 });
  }
  return ranges;
}

/** The disk's extents cut at 4 MiB boundaries and widened to whole sectors: one Put Page each. */
export function chunksOf(extents: Extent[], virtualSize: number): Extent[] {
  const chunks: Extent[] = [];
  for (const extent of extents) {
    let at = Math.floor(extent.offset / SECTOR) * SECTOR;
    const end = Math.min(virtualSize, roundUp(extent.offset + extent.length, SECTOR));
    while (at < end) {
      const boundary = Math.min(end, (Math.floor(at / PAGE_CHUNK) + 1) * PAGE_CHUNK);
      const last = chunks[chunks.length - 1];
      // Neighbouring extents in one 4 MiB window share a request.
      if (
        last &&
        last.offset + last.length === at &&
        Math.floor(last.offset / PAGE_CHUNK) === Math.floor(at / PAGE_CHUNK)
      ) {
        last.length += boundary - at;
      } else {
        chunks.push({ offset: at, length: boundary - at });
      }
      at = boundary;
    }
  }
  return chunks;
}

/**
 * The non-zero runs of a chunk, in whole sectors, as offsets into it: zero runs longer than 64 KiB split
 * them (a shorter gap costs less to send than another request), and an all-zero chunk has none.
 */
function nonZeroRuns(data: Buffer): Extent[] {
  const runs: Extent[] = [];
  if (isZero(data)) return runs;
  for (let at = 0; at < data.length; at += GRANULE) {
    const granule = data.subarray(at, Math.min(data.length, at + GRANULE));
    if (isZero(granule)) continue;
    const last = runs[runs.length - 1];
    if (last && last.offset + last.length >= at - GRANULE) last.length = at + granule.length - last.offset;
    else runs.push({ offset: at, length: granule.length });
  }
  // Trim each run's zero sectors at both ends.
  for (const run of runs) {
    while (isZero(data.subarray(run.offset, run.offset + SECTOR))) {
      run.offset += SECTOR;
      run.length -= SECTOR;
    }
    while (isZero(data.subarray(run.offset + run.length - SECTOR, run.offset + run.length)))
      run.length -= SECTOR;
  }
  return runs;
}

/**
 * The lowest offset below which every chunk is finished, while chunks finish out of order: the resume
 * token, and the progress a task shows.
 */
class Watermark {
  private readonly pending: Extent[];
  constructor(
    chunks: Extent[],
    private readonly end: number,
    private readonly start: number,
  ) {
    this.pending = [...chunks];
  }

  finish(chunk: Extent): void {
    this.pending.splice(this.pending.indexOf(chunk), 1);
  }

  get value(): number {
    return this.pending.length > 0 ? Math.max(this.start, this.pending[0].offset) : this.end;
  }
}

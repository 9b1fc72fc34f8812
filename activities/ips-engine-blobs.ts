import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';

/**
 * The blob-scoped SAS tokens an Azure Compositing Engine prepares with (reference/image-portability.txt:
 * the appliance attaches "a copy or read-only version of your disk to the CE VM"): read on the uploaded
 * page blob, create and write on the prepared one, both expiring with the prepare's timeout.
 *
 * They go to the engine sealed under its one-time registration token (AES-256-GCM, key derived with
 * HKDF), which only the appliance (sealed in Postgres) and the engine (its launch environment) hold: an
 * activity's input is in the task's history, and a SAS is a secret there even after the payload codec
 * has opened it (a task's history is shown to its admins).
 */
export interface EngineBlobTokens {
  /** Query string of the SAS on the source blob (sp=r). */
  source: string;
  /** Query string of the SAS on the output blob (sp=cw). */
  output: string;
}

const KEY_INFO = 'lamina/ips-engine-blob-tokens/v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function keyOf(engineToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(engineToken), Buffer.alloc(0), KEY_INFO, 32));
}

export function sealForEngine(engineToken: string, tokens: EngineBlobTokens): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyOf(engineToken), nonce);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(tokens)), cipher.final()]);
  return Buffer.concat([nonce, cipher.getAuthTag(), sealed]).toString('base64');
}

export function openAsEngine(engineToken: string, sealed: string): EngineBlobTokens {
  const bytes = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', keyOf(engineToken), bytes.subarray(0, NONCE_BYTES));
  decipher.setAuthTag(bytes.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
  const opened = Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]);
  return JSON.parse(opened.toString('utf8')) as EngineBlobTokens;
}

/** A page blob as a SAS URL reaches it, with no other credential. */
export function pageBlobWithSas(url: string, sas: string): PageBlobClient {
  return new PageBlobClient(`${url}?${sas.replace(/^\?/, '')}`, new AnonymousCredential(), {
    retryOptions: { maxTries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 4_000, tryTimeoutInMs: 120_000 },
  });
}

const CHUNK = 4 * 2 ** 20;

/**
 * Copies a page blob into a local file of its length, reading only the ranges it holds (Get Page
 * Ranges): the rest of the file stays a hole, as the blob's unwritten pages read as zeros. Answers the
 * bytes read.
 */
export async function downloadPageBlob(
  blob: PageBlobClient,
  file: string,
  options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<number> {
  const { contentLength } = await blob.getProperties({ abortSignal: options.signal });
  const size = contentLength ?? 0;
  const out = await fs.open(file, 'w');
  try {
    await out.truncate(size);
    let read = 0;
    const buffer = Buffer.allocUnsafe(CHUNK);
    for await (const range of blob.listPageRanges(0, undefined, { abortSignal: options.signal })) {
      if (range.isClear) continue;
      for (let at = range.start; at <= range.end; at += CHUNK) {
        const length = Math.min(CHUNK, range.end + 1 - at);
        const data = buffer.subarray(0, length);
        await blob.downloadToBuffer(data, at, length, { abortSignal: options.signal });
        await out.write(data, 0, length, at);
        read += length;
        options.onProgress?.(at + length, size);
      }
    }
    return read;
  } finally {
    await out.close();
  }
}

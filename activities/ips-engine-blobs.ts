import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { AnonymousCredential, isRestError, PageBlobClient } from '@azure/storage-blob';
import { storagePipeline } from '../connectors/azure/blob-storage';

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

/**
 * A page blob as a SAS URL reaches it, with no other credential. `caCertificate` (PEM): a CA trusted
 * besides the public ones, the connector's own (an engine gets it in its launch environment,
 * LAMINA_CE_CA_CERTIFICATE), for a storage endpoint whose certificate a private CA issued (Azure Stack
 * Hub, the emulator over HTTPS). Only this client trusts it, not the process (no NODE_EXTRA_CA_CERTS).
 */
export function pageBlobWithSas(url: string, sas: string, caCertificate?: string): PageBlobClient {
  // The connector's own pipeline: its retries, and the CA trusted as the appliance trusts it.
  return new PageBlobClient(
    `${url}?${sas.replace(/^\?/, '')}`,
    new AnonymousCredential(),
    storagePipeline({ caCertificate }),
  );
}

/** OpenSSL's verdicts on a certificate chain it does not accept (Node's `err.code`). */
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Whether the storage endpoint's certificate was refused (an error of the blob client, whose code is
 * Node's TLS verdict): a retry cannot heal it, the connector's caCertificate can. Answers the sentence
 * that names it (the endpoint's origin only, no SAS), else undefined.
 */
export function untrustedCertificate(err: unknown, url: string, caGiven: boolean): string | undefined {
  const code = isRestError(err) || err instanceof Error ? (err as { code?: string }).code : undefined;
  if (!code || !CERTIFICATE_CODES.has(code)) return undefined;
  const origin = new URL(url).origin;
  return (
    `the Compositing Engine does not trust the certificate of the storage endpoint ${origin} ` +
    `(${code}: ${(err as Error).message}): ` +
    (caGiven
      ? "the connector's caCertificate does not hold the CA that issued it"
      : "give the connector the CA that issued it as its caCertificate (the engine trusts the public CAs and the connector's caCertificate)")
  );
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

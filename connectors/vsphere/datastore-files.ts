import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { moRefXml } from './property-collector';
import { waitForTask, type ProgressCallback } from './tasks';
import { VimConnectionError, type VimClient } from './vim-client';
import { moRefOf, type MoRef } from './vim-fault';
import { fragment, xml } from './xml';

/**
 * Files on a datastore, through vCenter's HTTP file service `/folder/<path>?dcPath=&dsName=` (the
 * session cookie authorises it) and the FileManager for directories and deletion.
 *
 * The file service has no partial-write semantics: a PUT always replaces the whole file (ESXi and vcsim
 * alike; vcsim truncates and copies the body). So a failed upload is retried from the start of that
 * file, and bigger transfers are made resumable one level up by splitting them into several files
 * (see disk-upload.ts). Downloads resume exactly, with HTTP Range.
 */
export interface DatastoreLocation {
  datastore: string;
  /** Path inside the datastore, '/'-separated, no leading slash. */
  path: string;
}

export interface TransferOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** `[LocalDS_0] lamina/disk.vmdk` — how vim25 names datastore files. */
export function datastorePath(location: DatastoreLocation): string {
  return `[${location.datastore}] ${location.path}`;
}

/** Parses `[ds] some/path.vmdk`; throws for anything else. */
export function parseDatastorePath(text: string): { datastore: string; path: string } {
  const match = /^\[([^\]]+)\]\s*(.*)$/.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a datastore path like '[datastore] folder/file.vmdk'`);
  return { datastore: match[1], path: match[2] };
}

const PROGRESS_INTERVAL_MS = 250;

/**
 * A pass-through stream reporting `{phase, done, total}` as bytes go by: at most every 250 ms, and once
 * at the end, so a multi-GiB transfer makes a few heartbeats per second rather than one per 64 KiB.
 */
function progressStream(
  phase: string,
  start: number,
  total: number,
  onProgress?: ProgressCallback,
): Transform {
  let done = start;
  let reported = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      if (onProgress && Date.now() - reported >= PROGRESS_INTERVAL_MS) {
        reported = Date.now();
        onProgress({ phase, done, total });
      }
      callback(null, chunk);
    },
    flush(callback) {
      onProgress?.({ phase, done, total });
      callback();
    },
  });
}

/** The datastores of one datacenter. */
export class DatastoreFiles {
  constructor(
    private readonly client: VimClient,
    private readonly datacenter: { ref: MoRef; name: string },
  ) {}

  /** Size in bytes, or undefined when the file does not exist. */
  size(location: DatastoreLocation, signal?: AbortSignal): Promise<number | undefined> {
    return this.withSession(() => this.sizeOnce(location, signal));
  }

  /** Streams a local file (or a byte range of it) into a datastore file, replacing it. */
  upload(
    location: DatastoreLocation,
    source: { file: string; start?: number; end?: number },
    options: TransferOptions & { progressBase?: number; progressTotal?: number } = {},
  ): Promise<void> {
    return this.withSession(() => this.uploadOnce(location, source, options));
  }

  /**
   * Downloads a datastore file into a local file, continuing a partial local file with a Range request
   * (a 200 answer means the server ignored the range: the file is rewritten from the start).
   */
  download(location: DatastoreLocation, file: string, options: TransferOptions = {}): Promise<void> {
    return this.withSession(() => this.downloadOnce(location, file, options));
  }

  /** Small text files (VMDK descriptors): read whole. */
  readText(location: DatastoreLocation, signal?: AbortSignal): Promise<string> {
    return this.withSession(() => this.readTextOnce(location, signal));
  }

  private async sizeOnce(location: DatastoreLocation, signal?: AbortSignal): Promise<number | undefined> {
    const response = await this.request('HEAD', location, { signal });
    response.resume();
    if (response.statusCode === 404) return undefined;
    this.expectStatus(response, [200], 'HEAD', location);
    return Number(response.headers['content-length'] ?? 0);
  }

  private async uploadOnce(
    location: DatastoreLocation,
    source: { file: string; start?: number; end?: number },
    options: TransferOptions & { progressBase?: number; progressTotal?: number } = {},
  ): Promise<void> {
    const start = source.start ?? 0;
    const end = source.end ?? (await fs.promises.stat(source.file)).size;
    const length = end - start;
    const counter = progressStream(
      'upload',
      options.progressBase ?? 0,
      options.progressTotal ?? length,
      options.onProgress,
    );
    const request = this.openRequest('PUT', location, {
      signal: options.signal,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
    });
    const accepted = [200, 201, 204];
    const responded = new Promise<IncomingMessage>((resolve, reject) => {
      request.once('response', (response: IncomingMessage) => {
        // A server that refuses the upload (401 for a lost session) may answer before reading the body:
        // stop sending, and report its answer rather than the broken body.
        if (!accepted.includes(response.statusCode ?? 0)) request.destroy();
        resolve(response);
      });
      request.once('error', reject);
    });
    let bodyError: unknown;
    const body =
      length === 0
        ? (request.end(), Promise.resolve())
        : pipeline(fs.createReadStream(source.file, { start, end: end - 1 }), counter, request).catch(
            (err: unknown) => void (bodyError = err),
          );
    const response = await responded;
    await body;
    response.resume();
    this.expectStatus(response, accepted, 'PUT', location);
    if (bodyError) throw bodyError;
  }

  private async downloadOnce(
    location: DatastoreLocation,
    file: string,
    options: TransferOptions = {},
  ): Promise<void> {
    const have = fs.existsSync(file) ? fs.statSync(file).size : 0;
    const response = await this.request('GET', location, {
      signal: options.signal,
      headers: have > 0 ? { range: `bytes=${have}-` } : {},
    });
    if (response.statusCode === 416) {
      response.resume();
      return; // the local file already holds every byte
    }
    this.expectStatus(response, [200, 206], 'GET', location);
    const resuming = response.statusCode === 206;
    const offset = resuming ? have : 0;
    const total = offset + Number(response.headers['content-length'] ?? 0);
    const counter = progressStream('download', offset, total, options.onProgress);
    await pipeline(response, counter, fs.createWriteStream(file, { flags: resuming ? 'a' : 'w' }), {
      signal: options.signal,
    });
  }

  private async readTextOnce(location: DatastoreLocation, signal?: AbortSignal): Promise<string> {
    const response = await this.request('GET', location, { signal });
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    this.expectStatus(response, [200], 'GET', location);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Creates a directory and its parents; true when it did not exist before. */
  async makeDirectory(location: DatastoreLocation): Promise<boolean> {
    if ((await this.size({ ...location, path: `${location.path}/` })) !== undefined) return false;
    await this.client.invoke(
      'MakeDirectory',
      this.client.serviceContent.fileManager,
      fragment(
        xml('name', datastorePath(location)),
        moRefXml('datacenter', this.datacenter.ref),
        xml('createParentDirectories', true),
      ),
    );
    return true;
  }

  /** Deletes a file or directory; a missing one is not an error (deletion is idempotent). */
  async remove(location: DatastoreLocation): Promise<void> {
    // A directory is asked for with its trailing '/', which the file service answers like a file.
    if ((await this.size(location)) === undefined) return;
    const response = await this.client.invoke(
      'DeleteDatastoreFile_Task',
      this.client.serviceContent.fileManager,
      fragment(
        xml('name', datastorePath({ ...location, path: location.path.replace(/\/$/, '') })),
        moRefXml('datacenter', this.datacenter.ref),
      ),
    );
    await waitForTask(
      this.client,
      moRefOf(response.child('returnval')!),
      `delete ${datastorePath(location)}`,
    );
  }

  /**
   * The file service answers 401 when the session cookie is no longer valid (session expired, vCenter
   * restarted): log in again once and repeat the request.
   */
  private async withSession<T>(attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof DatastoreTransferError) || err.status !== 401) throw err;
      await this.client.renewSession();
      return attempt();
    }
  }

  private url(location: DatastoreLocation): URL {
    const url = new URL(this.client.sdk);
    url.pathname = `/folder/${location.path.split('/').map(encodeURIComponent).join('/')}`;
    url.search = new URLSearchParams({ dcPath: this.datacenter.name, dsName: location.datastore }).toString();
    return url;
  }

  private openRequest(
    method: string,
    location: DatastoreLocation,
    options: { signal?: AbortSignal; headers?: Record<string, string> },
  ) {
    const request = https.request(this.url(location), {
      method,
      agent: this.client.agent,
      signal: options.signal,
      headers: { cookie: this.client.sessionCookie, ...options.headers },
    });
    request.on('error', () => undefined); // reported through the response promise or pipeline
    return request;
  }

  private request(
    method: string,
    location: DatastoreLocation,
    options: { signal?: AbortSignal; headers?: Record<string, string> },
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = this.openRequest(method, location, options);
      request.once('response', resolve);
      request.once('error', (err) => reject(this.connectionError(err, method, location)));
      request.end();
    });
  }

  private connectionError(err: Error, method: string, location: DatastoreLocation): Error {
    if (err.name === 'AbortError' || err.name === 'CertificateRejected') return err;
    return new VimConnectionError(`${method} ${datastorePath(location)}: ${err.message}`);
  }

  private expectStatus(
    response: IncomingMessage,
    ok: number[],
    method: string,
    location: DatastoreLocation,
  ): void {
    const status = response.statusCode ?? 0;
    if (ok.includes(status)) return;
    const reason = status === 401 || status === 403 ? 'not authorised (session expired?)' : `HTTP ${status}`;
    throw new DatastoreTransferError(`${method} ${datastorePath(location)} failed: ${reason}`, status);
  }
}

export class DatastoreTransferError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'DatastoreTransferError';
  }
}

const DROPPED_CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The connection broke before an answer: worth retrying. An HTTP answer or a cancel is not. */
export function isDroppedConnection(err: unknown): boolean {
  if (err instanceof VimConnectionError) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && DROPPED_CONNECTION_CODES.has(code);
}

/**
 * Runs a transfer step again after a dropped connection, waiting 0.5 s, 1 s, 2 s … between attempts.
 * `attempt` must be safe to repeat (a whole-file PUT, a ranged GET).
 */
export async function retryDroppedConnection<T>(
  attempt: () => Promise<T>,
  options: { attempts?: number; signal?: AbortSignal; onRetry?: (err: Error) => void } = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= attempts || options.signal?.aborted || !isDroppedConnection(err)) throw err;
      options.onRetry?.(err as Error);
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** (i - 1)));
    }
  }
}

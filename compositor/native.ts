import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { VirtualDisk } from '../disk';
import { nativeBuildPath } from '../lib/native-addon';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** One progress report of the NTFS core, as printed on its stdout. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
}
export type ProgressListener = (progress: Progress) => void;

/** The NTFS core failed; the message is its own (it names the path and the reason). */
export class NtfsCoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NtfsCoreError';
  }
}

/**
 * An NTFS volume read in place, never extracted: a byte range of a VirtualDisk (a layer's
 * partition inside its VHDX). When the disk's blocks are plain bytes in its file, `mapFile` lets
 * the core read them itself (native/ntfs/mapped-device.c); otherwise this process serves every
 * read. Read-only.
 */
export interface ServedVolume {
  disk: VirtualDisk;
  start: number;
  size: number;
  mapFile?: string;
  /**
   * A device the core reads itself, by its name (an iSCSI LUN: native/ntfs/iscsi-device.h), with the
   * environment it needs (credentials, which an argument would show to every user of the machine).
   */
  device?: { name: string; environment: Record<string, string> };
  /** Closes the disk and removes the map file. */
  close(): Promise<void>;
}

/** A volume as the core's commands take it: a partition image file, or a served range. */
export type VolumeRef = string | ServedVolume;

/** The file descriptor the core reads a served volume through (see native/ntfs/served-device.h). */
const SERVED_FD = 3;
/** Larger requests than this are a protocol error, not an allocation to make. */
const MAX_SERVED_REQUEST = 64 * 2 ** 20;

/** The core's argument for a volume. */
export function volumeArgument(volume: VolumeRef): string {
  if (typeof volume === 'string') return volume;
  if (volume.device) return volume.device.name;
  return volume.mapFile ? `mapped:${volume.mapFile}` : `served:${SERVED_FD}:${volume.size}`;
}

/**
 * Answers the core's read requests ({u64 offset, u64 length} → length bytes), one at a time. The
 * answers go out of one buffer, reused once the socket has taken each: a fresh Buffer per request
 * (megabytes each, gigabytes per compose) made V8 run a full GC every few reads.
 */
function serve(socket: Duplex, volume: ServedVolume): void {
  let pending = Buffer.alloc(0);
  let answer = Buffer.alloc(0);
  let answering = Promise.resolve();
  socket.on('error', () => undefined); // the core may exit while an answer is on its way
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 16) {
      const offset = Number(pending.readBigUInt64LE(0));
      const length = Number(pending.readBigUInt64LE(8));
      pending = pending.subarray(16);
      answering = answering
        .then(async () => {
          if (length > MAX_SERVED_REQUEST || offset + length > volume.size)
            throw new Error('bad read request');
          if (answer.length < length) answer = Buffer.allocUnsafe(length);
          const data = answer.subarray(0, length);
          await volume.disk.read(data, volume.start + offset);
          await new Promise<void>((resolve, reject) =>
            socket.write(data, (err) => (err ? reject(err) : resolve())),
          );
        })
        .catch(() => {
          socket.destroy();
        });
    }
  });
}

export interface RunOptions {
  /** Bytes for the core's stdin (the `apply` operation stream). */
  input?: AsyncIterable<Buffer | string>;
  /** stdout carries progress lines (default) or data to return (`list`, `cat`). */
  stdout?: 'progress' | 'data';
  onProgress?: ProgressListener;
  /** Seconds since 1970 that the core uses as "now", so that outputs are reproducible. */
  epoch?: number;
  signal?: AbortSignal;
  /** The volume to serve on SERVED_FD, when an argument is volumeArgument(served). */
  served?: ServedVolume;
}

export function ntfsCoreBinary(): string {
  const binary = nativeBuildPath('lamina_ntfs');
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`npm run build:native\``);
  return binary;
}

/**
 * Runs the NTFS core (native/ntfs) as a child process: crash isolation, and cancellation by
 * killing it. Resolves to its stdout when `stdout: 'data'`.
 */
export function runNtfsCore(args: string[], options: RunOptions = {}): Promise<Buffer> {
  const env = {
    ...process.env,
    ...options.served?.device?.environment,
    LAMINA_EPOCH: options.epoch === undefined ? '' : String(options.epoch),
  };
  // stdin, stdout, stderr, and the socket a served volume is read through.
  const child = spawn(ntfsCoreBinary(), args, {
    env,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    signal: options.signal,
  }) as ChildProcessWithoutNullStreams;
  if (options.served && !options.served.mapFile && !options.served.device)
    serve(child.stdio[SERVED_FD] as Duplex, options.served);
  else (child.stdio[SERVED_FD] as Duplex).end();
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  let pendingLine = '';
  child.stdout.on('data', (chunk: Buffer) => {
    if (options.stdout === 'data') {
      stdoutChunks.push(chunk);
      return;
    }
    const lines = (pendingLine + chunk.toString('utf8')).split('\n');
    pendingLine = lines.pop() ?? '';
    for (const line of lines) if (line) options.onProgress?.(JSON.parse(line) as Progress);
  });
  child.stderr.on('data', (chunk: Buffer) => stderrChunks.push(chunk));

  const feeding = options.input
    ? pipeline(Readable.from(options.input), child.stdin).catch(() => undefined)
    : (child.stdin.end(), Promise.resolve());
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      void feeding.then(() => {
        if (code === 0) return resolve(Buffer.concat(stdoutChunks));
        const stderr = Buffer.concat(stderrChunks).toString('utf8').trim();
        // Name a served volume by its disk file, not by the descriptor it was read through.
        const message = options.served
          ? stderr.split(volumeArgument(options.served)).join(options.served.disk.path)
          : stderr;
        reject(
          new NtfsCoreError(message || `lamina_ntfs ${args[0]} ended by ${signal ?? `exit code ${code}`}`),
        );
      });
    });
  });
}

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../native/load';
import { Readable } from 'node:stream';
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

export interface RunOptions {
  /** Bytes for the core's stdin (the `apply` operation stream). */
  input?: AsyncIterable<Buffer | string>;
  /** stdout carries progress lines (default) or data to return (`list`, `cat`). */
  stdout?: 'progress' | 'data';
  onProgress?: ProgressListener;
  /** Seconds since 1970 that the core uses as "now", so that outputs are reproducible. */
  epoch?: number;
  signal?: AbortSignal;
}

function ntfsCoreBinary(): string {
  const binary = path.join(packageRoot(), 'native', 'build', 'Release', 'lamina_ntfs');
  if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`npm run build:native\``);
  return binary;
}

/**
 * Runs the NTFS core (native/ntfs) as a child process: crash isolation, and cancellation by
 * killing it. Resolves to its stdout when `stdout: 'data'`.
 */
export function runNtfsCore(args: string[], options: RunOptions = {}): Promise<Buffer> {
  const env = { ...process.env, LAMINA_EPOCH: options.epoch === undefined ? '' : String(options.epoch) };
  const child = spawn(ntfsCoreBinary(), args, {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    signal: options.signal,
  });
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
        const message = Buffer.concat(stderrChunks).toString('utf8').trim();
        reject(
          new NtfsCoreError(message || `lamina_ntfs ${args[0]} ended by ${signal ?? `exit code ${code}`}`),
        );
      });
    });
  });
}

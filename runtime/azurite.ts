import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../lib/project-root';
import { freePort, isPortOpen, stopChild, waitFor } from '../lib/processes';

/**
 * Azurite, Microsoft's Azure Storage emulator (npm `azurite`), as a real process serving the Blob
 * service on a free loopback port with its data in a private folder. Its account is the emulator's
 * well-known `devstoreaccount1`; URLs are path-style (`http://127.0.0.1:PORT/devstoreaccount1`).
 */
export interface Azurite {
  /** The Blob service endpoint of the emulator's account. */
  blobEndpoint: string;
  port: number;
  /** The emulator's process (a benchmark reads its CPU time). */
  pid: number;
  accountName: string;
  accountKey: string;
  /** Graceful: requests in flight finish. */
  stop(): Promise<void>;
  /** A crash (SIGKILL), keeping the data folder so a restart on the same port finds the blobs. */
  kill(): Promise<void>;
}

/** The emulator's fixed development account (documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Reuse a port and data folder (restarting the emulator where it was). */
  port?: number;
  location?: string;
  /**
   * Blobs kept in the emulator's memory, not written to its files and read back: a benchmark measures
   * the client, and Azure's own storage work is not on this machine. Lost when the emulator stops.
   */
  inMemory?: boolean;
  /**
   * Serve HTTPS with this certificate and key (PEM files) and take Entra ID bearer tokens (`--oauth
   * basic`: it checks their issuer, audience and lifetime, not their signature), which Get User
   * Delegation Key needs.
   */
  oauth?: { cert: string; key: string };
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const port = options.port ?? (await freePort());
  const location = options.location ?? fs.mkdtempSync(path.join(os.tmpdir(), 'lamina-azurite-'));
  fs.mkdirSync(location, { recursive: true });
  const logFile = path.join(location, 'azurite.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(
    path.join(projectRoot(), 'node_modules', '.bin', 'azurite-blob'),
    [
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--silent',
      // The SDK may speak a newer service version than the emulator lists; the calls Lamina makes exist in both.
      '--skipApiVersionCheck',
      '--disableTelemetry',
      // The folder holds the emulator's log either way, and its blobs unless they stay in memory.
      ...(options.inMemory ? ['--inMemoryPersistence'] : ['--location', location]),
      ...(options.oauth
        ? ['--oauth', 'basic', '--cert', options.oauth.cert, '--key', options.oauth.key]
        : []),
    ],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`cannot start azurite: ${err.message}; run scripts/setup`)),
    ),
  );
  try {
    await Promise.race([
      spawnError,
      // Azurite loads a few hundred modules before it listens: on a busy machine that takes a while.
      waitFor(`azurite on port ${port}`, () => isPortOpen(port), {
        timeoutMs: 120_000,
        child,
        log: () => fs.readFileSync(logFile, 'utf8'),
      }),
    ]);
  } catch (err) {
    // An emulator that never came up is not left running, nor its folder when this call made it.
    await stopChild(child, 1_000);
    if (!options.location) fs.rmSync(location, { recursive: true, force: true });
    throw err;
  }
  return {
    blobEndpoint: `${options.oauth ? 'https' : 'http'}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    port,
    pid: child.pid!,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    async stop() {
      await stopChild(child, 5_000);
      fs.rmSync(location, { recursive: true, force: true });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

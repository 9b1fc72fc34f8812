import fs from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import {
  DefaultLogger,
  makeTelemetryFilterString,
  NativeConnection,
  Runtime,
  type LogEntry,
  type NativeConnectionOptions,
} from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { LaminaConfig, TemporalTlsConfig } from '../config/env';
import { LAMINA_SEARCH_ATTRIBUTES } from './search-attributes';

type TemporalSettings = LaminaConfig['temporal'] & { address: string };

/** The PEM of one TLS item, from its file or its `_DATA` variable (config/env.ts allows one of them). */
function pem(file: string | undefined, text: string | undefined): Buffer | undefined {
  if (text) return Buffer.from(text);
  return file ? fs.readFileSync(file) : undefined;
}

/**
 * The cluster's TLS material as PEM text, whichever form configured it: what the connections use, and what
 * a Compositing Engine is given (runtime/engine-environment.ts). Undefined: no TLS.
 */
export function temporalTlsMaterial(
  tls: TemporalTlsConfig | undefined,
): { ca?: Buffer; cert?: Buffer; key?: Buffer; serverName?: string } | undefined {
  if (!tls) return undefined;
  return {
    ca: pem(tls.caPath, tls.caPem),
    cert: pem(tls.certPath, tls.certPem),
    key: pem(tls.keyPath, tls.keyPem),
    serverName: tls.serverName,
  };
}

function tlsOptions(settings: TemporalSettings): ConnectionOptions['tls'] {
  const tls = temporalTlsMaterial(settings.tls);
  if (!tls) return undefined;
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: tls.ca,
    clientCertPair: tls.cert && tls.key ? { crt: tls.cert, key: tls.key } : undefined,
  };
}

/**
 * Client connection (API, CLI, tests) to the configured or embedded cluster. `retry: false` drops the
 * SDK's retrying interceptor: a readiness probe must report a dead server, not wait for it to return.
 */
export function connectClient(
  settings: TemporalSettings,
  options: { retry: boolean } = { retry: true },
): Promise<Connection> {
  return Connection.connect({
    address: settings.address,
    tls: tlsOptions(settings),
    apiKey: settings.apiKey,
    // grpc-js waits ever longer (up to 2 minutes) between attempts to reach a server that went away;
    // a Temporal that comes back (the embedded one is restarted within seconds) is found within 2 s.
    channelArgs: { 'grpc.max_reconnect_backoff_ms': 2_000 },
    ...(options.retry ? {} : { interceptors: [] }),
  });
}

let runtimeInstalled = false;

/** Where the worker runtime's warnings and errors go. */
export type WorkerLogSink = (entry: LogEntry) => void;

function toStderr(entry: LogEntry): void {
  console.error(`[temporal] ${entry.level} ${entry.message}`, entry.meta ?? '');
}

/**
 * Installs the worker runtime once per process, before any worker or native connection exists. Its log
 * goes to stderr unless `sink` says otherwise (tests keep the activity failures they provoke, to assert them).
 */
export function installWorkerRuntime(
  sink: WorkerLogSink = toStderr,
  coreLogFilter = makeTelemetryFilterString({ core: 'WARN' }),
): void {
  if (runtimeInstalled) return;
  // The SDK logs every worker state change at INFO; Lamina's own log says what matters.
  const logger = new DefaultLogger('WARN', (entry) => {
    // The compose worker runs activities only, by design; the SDK warns about that at every start.
    if (entry.message.startsWith('No workflows registered')) return;
    sink(entry);
  });
  Runtime.install({
    logger,
    // The Rust core writes its own warnings to the console. (Forwarded to `logger` instead, they would
    // keep the process alive after its last worker closed: SDK 1.24.)
    telemetryOptions: { logging: { filter: coreLogFilter, console: {} } },
  });
  runtimeInstalled = true;
}

/** Worker connection (Rust core) to the configured or embedded cluster. */
export function connectWorker(settings: TemporalSettings): Promise<NativeConnection> {
  installWorkerRuntime();
  const options: NativeConnectionOptions = {
    address: settings.address,
    tls: tlsOptions(settings),
    apiKey: settings.apiKey,
  };
  return NativeConnection.connect(options);
}

/**
 * Registers Lamina's search attributes on a cluster that lacks them (an external cluster; the embedded
 * dev server gets them at start). Idempotent: attributes already present are left alone.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.keys(LAMINA_SEARCH_ATTRIBUTES).filter((name) => !(name in (customAttributes ?? {})));
  if (missing.length === 0) return;
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, keyword])),
    });
  } catch (err) {
    throw new Error(
      `Temporal namespace '${namespace}' lacks the search attributes ${missing.join(', ')} and Lamina could not ` +
        `add them (${(err as Error).message}); ask the cluster admin to run: ` +
        missing.map((m) => `temporal operator search-attribute create --name ${m} --type Keyword`).join('; '),
    );
  }
}

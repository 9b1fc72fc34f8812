import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { createApp } from '../api/app';
import { ensureAdministrator } from '../api/auth/administrator';
import { TaskService } from '../api/tasks/task-service';
import { codecEndpointUrl } from '../api/temporal-codec/temporal-codec-router';
import { startUploadPurge } from '../api/uploads/uploads-store';
import type { LaminaConfig } from '../config/env';
import { loadMasterKeys } from '../config/master-key';
import { PayloadEncryptionCodec } from '../config/payload-codec';
import { SecretBox } from '../config/secret-box';
import { ensureDefaultLocalConnector } from '../db/connectors';
import { migrate } from '../db/migrate';
import { createPool, pingDatabase } from '../db/pool';
import { createApplianceWorker } from '../worker/appliance-worker';
import { createComposeWorker } from '../worker/compose-worker';
import { startPowerWatcher } from '../worker/power-watcher';
import { removeOrphanedVolumeFolders } from '../compositor/disk-image';
import { configuredLayerTargets, stopLeftoverTargetDaemon } from '../iscsi';
import { engineEnvironment } from './engine-environment';
import { openEngineTemporalGateway } from './engine-temporal-gateway';
import { claimDataFolder } from './data-folder';
import { startPostgresCluster } from './postgres-cluster';
import { projectRoot } from '../lib/project-root';
import { connectClient, connectWorker, ensureSearchAttributes } from './temporal-connection';
import { startTemporalDevServer } from './temporal-dev-server';

/** The task queues a worker process can poll (ARCHITECTURE.md §1). */
export type WorkerQueue = 'appliance' | 'compose';

export interface StackOptions {
  api: boolean;
  worker: boolean;
  /** What the worker polls (default both): scale-out runs each kind as processes of its own. */
  workerQueues?: WorkerQueue[];
  /** Start a dev server / private Postgres when the config names none (the embedded defaults). */
  embedded: boolean;
  /** Tests pass a workflow bundle built once per run. */
  workflowBundlePath?: string;
  log?: (line: string) => void;
}

export interface Stack {
  apiUrl?: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  databaseUrl: string;
  pool: Pool;
  client: Client;
  tasks: TaskService;
  /**
   * Settles with the reason when an embedded service died for good (its supervision gave up) or a worker
   * failed; never settles otherwise. The rest keeps running: the caller decides to stop it.
   */
  failed: Promise<Error>;
  /** Stops everything this stack started, newest first. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Brings Lamina up in dependency order: Postgres, Temporal, migrations, then the worker and the API.
 * Each step registers how to undo itself before the next starts, so a failure half-way stops what
 * already runs instead of leaving orphans.
 */
export async function startStack(config: LaminaConfig, options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => undefined);
  const undo: { what: string; run: () => Promise<void> }[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const step of undo.reverse()) {
        await step.run().catch((err) => log(`stopping ${step.what} failed: ${(err as Error).message}`));
      }
    })());

  try {
    fs.mkdirSync(config.dataDir, { recursive: true });
    const missing = [
      !config.databaseUrl && 'DATABASE_URL',
      !config.temporal.address && 'TEMPORAL_ADDRESS',
    ].filter(Boolean);
    if (!options.embedded && missing.length > 0) {
      throw new Error(`${missing.join(' and ')} must be set: this role does not start embedded services`);
    }

    if (missing.length > 0) {
      // Only now may what a killed earlier run left in the data folder be stopped: it is nobody's else.
      const claim = claimDataFolder(config.dataDir);
      undo.push({ what: 'data folder claim', run: async () => claim.release() });
    }

    let reportFailure: (reason: Error) => void = () => undefined;
    const failed = new Promise<Error>((resolve) => (reportFailure = resolve));
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      log('starting private PostgreSQL cluster');
      const cluster = await startPostgresCluster(path.join(config.dataDir, 'postgres'), {
        supervise: { log },
      });
      undo.push({ what: 'PostgreSQL', run: cluster.stop });
      void cluster.failed.then(reportFailure);
      databaseUrl = cluster.url;
    }

    let temporalAddress = config.temporal.address;
    let temporalUiUrl: string | undefined;
    if (!temporalAddress) {
      log('starting Temporal dev server');
      const server = await startTemporalDevServer({
        port: config.temporal.embeddedPort,
        uiPort: config.temporal.embeddedUiPort,
        uiCodecEndpoint: options.api ? codecEndpointUrl(config.api) : undefined,
        namespace: config.temporal.namespace,
        dbFile: path.join(config.dataDir, 'temporal', 'temporal.db'),
        logFile: path.join(config.dataDir, 'temporal', 'server.log'),
        pidFile: path.join(config.dataDir, 'temporal', 'server.pid'),
        cliPath: config.temporal.cliPath,
        supervise: { log },
      });
      undo.push({ what: 'Temporal dev server', run: server.stop });
      temporalAddress = server.address;
      temporalUiUrl = server.uiUrl;
      void server.failed.then(reportFailure);
    }
    const temporalSettings = { ...config.temporal, address: temporalAddress };

    const pool = createPool(databaseUrl);
    undo.push({ what: 'database pool', run: () => pool.end() });
    const applied = await migrate(pool).catch((err: Error) => {
      throw new Error(`PostgreSQL at ${describeDatabase(databaseUrl)}: ${err.message || err.name}`);
    });
    if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
    const storagePool = path.join(config.dataDir, 'pool');
    await ensureDefaultLocalConnector(pool, storagePool);
    await ensureAdministrator(pool, config.auth.adminPassword, log);
    const masterKeys = loadMasterKeys(config);
    const secrets = new SecretBox(masterKeys);
    // Every client and worker of this process encrypts payloads: history holds no names, paths or settings.
    const payloadCodec = new PayloadEncryptionCodec(masterKeys);
    const dataConverter = { payloadCodecs: [payloadCodec] };

    const connection: Connection = await connectClient(temporalSettings);
    undo.push({ what: 'Temporal client', run: () => connection.close() });
    await ensureSearchAttributes(connection, config.temporal.namespace);
    const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    // Task calls and the readiness probe check Temporal over a connection without the SDK's retries.
    const probeConnection = await connectClient(temporalSettings, { retry: false });
    undo.push({ what: 'Temporal health connection', run: () => probeConnection.close() });
    const tasks = new TaskService(client, config.taskQueue, probeConnection);

    if (options.worker) {
      const queues = options.workerQueues ?? ['appliance', 'compose'];
      const workerConnection = await connectWorker(temporalSettings);
      undo.push({ what: 'worker connection', run: () => workerConnection.close() });
      const workers: [string, Worker][] = [];
      if (queues.includes('appliance')) {
        if (await stopLeftoverTargetDaemon(config.iscsi))
          log('stopped the iSCSI target daemon a killed run left');
        // Offload tasks' iSCSI targets: tgtd runs while one exists; closed after the worker stops.
        const iscsiTargets = configuredLayerTargets(config.iscsi);
        undo.push({ what: 'iSCSI targets', run: () => iscsiTargets.close() });
        if (config.compositingEngines.networkNamespace) {
          const gateway = await openEngineTemporalGateway(config.compositingEngines.address, temporalAddress);
          if (gateway) undo.push({ what: "engines' Temporal gateway", run: gateway.close });
        }
        workers.push([
          'worker',
          await createApplianceWorker({
            connection: workerConnection,
            namespace: config.temporal.namespace,
            taskQueue: config.taskQueue,
            dataConverter,
            workflowBundlePath: options.workflowBundlePath,
            deps: {
              pool,
              repositoryDir: config.repositoryDir,
              repositoryMinFreeBytes: config.repositoryMinFreeBytes,
              diagnosticsProbeBytes: config.diagnosticsProbeBytes,
              secrets,
              scratchDir: config.scratchDir,
              uploadsDir: config.uploads.dir,
              composeTaskQueue: config.compose.taskQueue,
              iscsiTargets,
              iscsiChapKey: masterKeys[0],
              offload: {
                engineEnvironment: engineEnvironment(config, temporalAddress, masterKeys),
                engineAddress: config.compositingEngines.address,
                networkNamespace: config.compositingEngines.networkNamespace,
                registrationSeconds: config.compositingEngines.registrationSeconds,
              },
            },
          }),
        ]);
      }
      if (queues.includes('compose')) {
        const leftovers = await removeOrphanedVolumeFolders();
        if (leftovers.length > 0) log(`removed ${leftovers.length} folder(s) of killed composes`);
        workers.push([
          'compose worker',
          await createComposeWorker({
            connection: workerConnection,
            namespace: config.temporal.namespace,
            taskQueue: config.compose.taskQueue,
            dataConverter,
            concurrency: config.compose.concurrency,
            repositoryDir: config.repositoryDir,
          }),
        ]);
      }
      for (const [what, w] of workers) {
        const running = w.run();
        // A worker that fails (not one shut down) polls no more; reported, so the caller stops everything
        // in order instead of the process dying of an unhandled rejection with its services left running.
        running.catch((err: Error) => reportFailure(new Error(`the ${what} failed: ${err.message}`)));
        undo.push({
          what,
          run: async () => {
            if (w.getState() === 'RUNNING') w.shutdown();
            await running;
          },
        });
      }
      if (queues.includes('appliance')) {
        const watcher = startPowerWatcher({ pool, secrets }, client);
        undo.push({ what: 'power watcher', run: watcher.stop });
      }
      const polled = [
        queues.includes('appliance') && config.taskQueue,
        queues.includes('compose') && config.compose.taskQueue,
      ].filter(Boolean);
      log(`worker polling task queue(s) ${polled.map((q) => `'${q}'`).join(' and ')}`);
    }

    let apiUrl: string | undefined;
    if (options.api) {
      const app = createApp({
        pool,
        tasks,
        secrets,
        auth: config.auth,
        uploadsDir: config.uploads.dir,
        uploadMaxBytes: config.uploads.maxBytes,
        importDirs: config.importDirs,
        ownDirs: [config.dataDir, config.repositoryDir, projectRoot()],
        payloadCodec,
        temporalUiOrigins: config.temporal.uiOrigins,
        temporalWorkflowsUrl:
          temporalUiUrl &&
          `${temporalUiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows`,
        readiness: [
          { name: 'postgres', check: () => pingDatabase(pool) },
          {
            name: 'temporal',
            check: async () => void (await probeConnection.healthService.check({})),
          },
        ],
      });
      const purge = startUploadPurge(config.uploads.dir, config.uploads.ttlMs, log);
      undo.push({ what: 'upload purge', run: purge.stop });
      const server = http.createServer(app);
      // Node closes an idle keep-alive connection after 5 s, about when an HTTP client (undici: the hint
      // less 1 s) reuses it: a loaded machine lets the two cross and a request dies with ECONNRESET.
      // An idle minute (and headers allowed a little longer, as Node requires) keeps that crossing rare.
      server.keepAliveTimeout = 65_000;
      server.headersTimeout = 66_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(
            err.code === 'EADDRINUSE'
              ? new Error(`API port ${config.api.port} is in use; set LAMINA_API_PORT to another port`)
              : err,
          ),
        );
        server.listen(config.api.port, config.api.host, () => resolve());
      });
      undo.push({
        what: 'API server',
        run: () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      });
      const { port } = server.address() as { port: number };
      apiUrl = `http://${config.api.host}:${port}`;
    }

    return { apiUrl, temporalAddress, temporalUiUrl, databaseUrl, pool, client, tasks, failed, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** host:port/database of a Postgres URL, without the credentials it may carry. */
function describeDatabase(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
}

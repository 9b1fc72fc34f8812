import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../../api/tasks/task-service';
import { AzureConnector } from '../../connectors/azure/azure-connector';
import type { LaminaConfig } from '../../config/env';
import { run, stopChild } from '../../lib/processes';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import type { Stack } from '../../runtime/stack';
import { administratorClient, type ApiClient } from '../api-client';
import { azuriteConnectorThroughApi, azuriteSettings, serviceClient } from '../azure/fixtures';
import {
  createTestDatabase,
  mountedDir,
  spawnWorkerProcess,
  startTestStack,
  testConfig,
  testDir,
  type TestDatabase,
} from '../harness';
import { CuttingProxy } from '../vsphere/fixtures';

const MIB = 2 ** 20;

/** A `lamina worker` process (the compiled CLI, as deployed), so it can be killed like a crashing host. */
function spawnWorker(config: LaminaConfig, databaseUrl: string, logFile: string): ChildProcess {
  return spawnWorkerProcess({ config, databaseUrl, logFile });
}

/**
 * kill -9 of the worker during an upload to Azure storage (Azurite, behind a proxy that counts the
 * bytes and slows the link so the kill lands mid-upload): the task resumes on a new worker from the
 * heartbeat's token and the blob's page ranges, the blob ends identical to an uninterrupted upload's,
 * and fewer bytes cross the wire than a restart from zero would send.
 */
describe('a worker killed during an upload to Azure', () => {
  let db: TestDatabase;
  let stack: Stack;
  let config: LaminaConfig;
  let azurite: Azurite;
  let proxy: CuttingProxy;
  let admin: ApiClient;
  let shareId: string;
  let azureId: string;
  let dir: string;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    azurite = await startAzurite();
    await serviceClient(azurite).getContainerClient('images').create();
    proxy = await CuttingProxy.start(azurite.port);
    db = await createTestDatabase();
    config = testConfig(db.url);
    stack = await startTestStack(config, { worker: false });
    admin = await administratorClient(stack);
    const mountPoint = mountedDir('ips-share');
    shareId = (
      await admin.post('/api/connectors', {
        type: 'fileshare',
        name: 'IPS share',
        settings: { path: '\\\\files\\ips', mountPoint },
      })
    ).body.id;
    azureId = await azuriteConnectorThroughApi(admin, azurite, 'Azure behind the proxy', {
      settings: { blobEndpoint: `http://127.0.0.1:${proxy.port}/${azurite.accountName}` },
    });
    // 96 MiB of incompressible data in a 256 MiB disk, in 8 MiB runs with zeros between.
    dir = testDir('ips-crash');
    const raw = path.join(dir, 'disk.raw');
    const fd = fs.openSync(raw, 'w');
    fs.ftruncateSync(fd, 256 * MIB);
    for (let i = 0; i < 12; i++) fs.writeSync(fd, randomBytes(8 * MIB), 0, 8 * MIB, i * 20 * MIB);
    fs.closeSync(fd);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, path.join(mountPoint, 'disk.vhdx')]);
    fs.rmSync(raw);
    workers.push(spawnWorker(config, db.url, path.join(dir, 'workers.log')));
  }, 300_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => stopChild(w)));
    await stack?.stop();
    await db?.drop();
    await proxy?.stop();
    await azurite?.stop();
  });

  const upload = async (blobName: string) =>
    (
      await admin.post('/api/ips/upload', {
        shareConnectorId: shareId,
        fileName: 'disk.vhdx',
        targetConnectorId: azureId,
        blobName,
      })
    ).body as Task;
  const waitFor = async (id: string) => (await admin.get(`/api/tasks/${id}/wait?timeout=240`)).body as Task;
  const blobHash = async (blobName: string) => {
    const file = path.join(dir, blobName);
    await new AzureConnector(azuriteSettings(azurite), {
      clientSecret: 'x',
      storageKey: azurite.accountKey,
    }).downloadBlob(blobName, file);
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  };

  it('resumes on a new worker: the same blob, fewer bytes than starting over', async () => {
    // An uninterrupted upload: what a restart from zero sends.
    const before = proxy.upstreamBytes;
    const clean = await waitFor((await upload('clean.vhd')).id);
    expect(clean.state).toBe('completed');
    const whole = proxy.upstreamBytes - before;
    expect(whole).toBeGreaterThan(96 * MIB);
    expect(whole).toBeLessThan(100 * MIB);

    proxy.limitUpstream(24 * MIB);
    const start = proxy.upstreamBytes;
    const { id } = await upload('crashed.vhd');
    while (proxy.upstreamBytes - start < 0.7 * whole) await new Promise((r) => setTimeout(r, 20));
    workers[0].kill('SIGKILL');
    const atKill = proxy.upstreamBytes - start;
    proxy.limitUpstream(Infinity);
    // What the blob holds once the killed worker's connections are gone (requests cut mid-body are dropped).
    await new Promise((r) => setTimeout(r, 500));
    let committed = 0;
    for await (const r of serviceClient(azurite)
      .getContainerClient('images')
      .getPageBlobClient('crashed.vhd')
      .listPageRanges())
      committed += r.end - r.start + 1;
    expect(committed).toBeGreaterThan(0.25 * whole);
    workers.push(spawnWorker(config, db.url, path.join(dir, 'workers.log')));

    const task = await waitFor(id);
    expect(task.state).toBe('completed');
    // The next worker's attempt sent at most what the blob was missing when it was measured (requests the
    // proxy still held may have been committed after that), not the whole disk again. Its own count: the
    // proxy's bytes after the kill also carry what the killed worker's sockets had buffered.
    const sentOnResume = (task.result as { sent: number }).sent;
    const sentWhole = (clean.result as { sent: number }).sent;
    expect(sentOnResume).toBeLessThanOrEqual(sentWhole - committed);
    expect(atKill + (proxy.upstreamBytes - start - atKill)).toBeLessThan(atKill + whole);
    expect(await blobHash('crashed.vhd')).toBe(await blobHash('clean.vhd'));
  }, 300_000);
});

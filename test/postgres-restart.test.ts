import net from 'node:net';
import path from 'node:path';
import { pidExists } from '../lib/processes';
import { postmasterPid, startPostgresCluster, type PostgresCluster } from '../runtime/postgres-cluster';
import type { Stack } from '../runtime/stack';
import { administratorClient, type ApiClient } from './api-client';
import { eventually, startTestStack, testConfig, testDir } from './harness';

/**
 * The private PostgreSQL cluster `lamina up` starts is supervised like the Temporal dev server: a
 * postmaster that dies is started again on its port (the pools' database URL stays right) with
 * back-off, and while it is down the API answers 503 naming PostgreSQL instead of a 500.
 */

/** Kills the postmaster as a crash would (its backends end by themselves), and waits until it is gone. */
async function crash(dataDir: string): Promise<number> {
  const pid = postmasterPid(dataDir);
  process.kill(pid, 'SIGKILL');
  await eventually(() => !pidExists(pid), 60_000, 'the killed postmaster is gone');
  return pid;
}

describe('the supervised PostgreSQL cluster', () => {
  const dataDir = path.join(testDir('supervised-postgres'), 'postgres');
  const logs: string[] = [];
  let cluster: PostgresCluster;
  let stack: Stack;
  let admin: ApiClient;

  beforeAll(async () => {
    cluster = await startPostgresCluster(dataDir, {
      // Long enough to look at the API while PostgreSQL is down.
      supervise: { log: (line) => logs.push(line), restartDelaysMs: [5_000] },
      pollMs: 100,
    });
    stack = await startTestStack(testConfig(cluster.url), { worker: false });
    admin = await administratorClient(stack);
  });
  afterAll(async () => {
    await stack?.stop();
    await cluster?.stop();
  });

  it('is restarted on its port when it dies; meanwhile routes answer 503 naming PostgreSQL; nothing is lost', async () => {
    const created = await admin.post('/api/storage-locations', {
      name: 'Kept across a crash',
      sharePath: '\\\\files\\users',
      priority: 7,
    });
    expect(created.status).toBe(201);
    const before = (await admin.get('/api/storage-locations')).body as unknown[];

    const pid = await crash(dataDir);
    const startedAt = Date.now();
    const answer = await admin.get('/api/storage-locations');
    expect({ status: answer.status, fast: Date.now() - startedAt < 2_000 }).toEqual({
      status: 503,
      fast: true,
    });
    expect(answer.headers.get('retry-after')).toBe('5');
    expect(answer.body).toMatchObject({
      title: 'PostgreSQL unavailable',
      detail: expect.stringMatching(
        /^PostgreSQL, which keeps Lamina's records, does not answer \(.+\); try again shortly\.$/,
      ),
    });
    expect(answer.text).not.toMatch(/\bat .+:\d+:\d+/); // no stack trace

    await eventually(() => logs.some((line) => line.startsWith('PostgreSQL restarted')), 60_000, 'restarted');
    expect(logs[0]).toMatch(
      new RegExp(`^PostgreSQL ended \\(its postmaster, pid ${pid}, is gone\\)[^]*; restarting it in 5 s$`),
    );
    expect(logs[1]).toBe(`PostgreSQL restarted (pid ${postmasterPid(dataDir)})`);
    const shown = await eventually(
      async () => {
        const response = await admin.get('/api/storage-locations');
        return response.status === 200 && response;
      },
      10_000,
      'the API reaches PostgreSQL again',
    );
    expect(shown.body).toEqual(before);
  }, 120_000);

  it('gives up, saying why, after quick failures in a row', async () => {
    const failingDir = path.join(testDir('failing-postgres'), 'postgres');
    const failing = await startPostgresCluster(failingDir, {
      supervise: { log: () => undefined, restartDelaysMs: [100, 100] },
      pollMs: 100,
    });
    const port = Number(new URL(failing.url).port);
    // Someone else takes the port as soon as the server is gone: it cannot start there again.
    const squatter = net.createServer();
    try {
      await crash(failingDir);
      await new Promise<void>((resolve, reject) =>
        squatter.once('error', reject).listen(port, '127.0.0.1', resolve),
      );
      const reason = await failing.failed;
      expect(reason.message).toMatch(/^PostgreSQL did not start again: .*pg_ctl start/);
      expect(reason.message).toContain(
        'it failed 3 times in a row, each within 60 s of its start, so it is not restarted again',
      );
      expect(reason.message).toContain(`its log: ${path.join(failingDir, 'server.log')}`);
    } finally {
      squatter.close();
      await failing.stop();
    }
  }, 120_000);
});

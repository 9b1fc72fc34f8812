import path from 'node:path';
import { loadConfig } from '../config/env';
import { freePort } from '../lib/processes';
import { startStack, type Stack } from '../runtime/stack';
import { startTemporalDevServer } from '../runtime/temporal-dev-server';
import {
  createTestDatabase,
  harnessValue,
  startTestStack,
  testConfig,
  testDir,
  type TestDatabase,
} from './harness';

interface Readiness {
  status: string;
  down: string[];
  checks: Record<string, { ok: boolean; error?: string }>;
}

describe('health endpoints', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startTestStack(testConfig(db.url), { worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('/healthz answers while the process lives', async () => {
    const response = await fetch(`${stack.apiUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is ready when Temporal and Postgres answer', async () => {
    const response = await fetch(`${stack.apiUrl}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ready',
      checks: { postgres: { ok: true }, temporal: { ok: true } },
    });
  });

  it('/readyz names Postgres when it goes away', async () => {
    // A second database that we drop under the running API: the pool's next query fails.
    const doomed = await createTestDatabase();
    const doomedStack = await startTestStack(testConfig(doomed.url), { worker: false });
    try {
      await doomed.drop();
      const response = await fetch(`${doomedStack.apiUrl}/readyz`);
      expect(response.status).toBe(503);
      const body = (await response.json()) as Readiness;
      expect(body.down).toEqual(['postgres']);
      expect(body.checks.temporal.ok).toBe(true);
      expect(body.checks.postgres.error).toMatch(/database .* does not exist|terminat/);
    } finally {
      await doomedStack.stop();
    }
  });

  it('/readyz names Temporal when it goes away', async () => {
    const server = await startTemporalDevServer({
      port: await freePort(),
      namespace: 'default',
      logFile: path.join(testDir('temporal'), 'server.log'),
    });
    const ownStack = await startTestStack(
      { ...testConfig(db.url), temporal: { ...testConfig(db.url).temporal, address: server.address } },
      { worker: false },
    );
    try {
      await server.stop();
      const response = await fetch(`${ownStack.apiUrl}/readyz`);
      expect(response.status).toBe(503);
      const body = (await response.json()) as Readiness;
      expect(body.down).toEqual(['temporal']);
      expect(body.checks.postgres.ok).toBe(true);
    } finally {
      await ownStack.stop();
      await server.stop();
    }
  });

  it('refuses to start when the database is unreachable, naming it', async () => {
    const closedPort = await freePort();
    const config = loadConfig({
      TEMPORAL_ADDRESS: harnessValue('temporalAddress'),
      DATABASE_URL: `postgres://lamina@127.0.0.1:${closedPort}/lamina`,
      LAMINA_API_PORT: '0',
    });
    await expect(startStack(config, { api: true, worker: false, embedded: false })).rejects.toThrow(
      `PostgreSQL at 127.0.0.1:${closedPort}/lamina: connect ECONNREFUSED`,
    );
  });

  it('refuses to start without addresses when embedded services are not allowed', async () => {
    const config = loadConfig({ LAMINA_API_PORT: '0' });
    await expect(startStack(config, { api: true, worker: false, embedded: false })).rejects.toThrow(
      'DATABASE_URL and TEMPORAL_ADDRESS must be set',
    );
  });
});

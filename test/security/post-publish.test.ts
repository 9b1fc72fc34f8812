import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { POST_PUBLISH_USER } from '../../activities/publishing';
import type { Task } from '../../api/tasks/task-service';
import type { PublishImageResult } from '../../workflows/publish-image';
import { administratorClient, sessionClient, type ApiClient } from '../api-client';
import {
  fileshareConnector,
  finished,
  goldImage,
  importedOs,
  run,
  startAppliance,
  template,
  type Appliance,
} from '../workflows/fixtures';

/** What the appliance process holds and a post-publish script must not: set before the publish runs. */
const SECRETS = {
  DATABASE_URL: 'postgres://lamina:canary-db-password@127.0.0.1:5432/lamina',
  TEMPORAL_API_KEY: 'canary-temporal-api-key',
  LAMINA_ADMIN_PASSWORD: 'canary-admin-password',
  LAMINA_MASTER_KEY: Buffer.from('canary-master-key-canary-master!').toString('base64'),
};

/** A caller holding one role, through a directory identity the role is assigned to. */
async function clientWithRole(app: Appliance, role: string): Promise<ApiClient> {
  const dn = `cn=${randomUUID()},ou=people,dc=example,dc=com`;
  await app.stack.pool.query(
    `INSERT INTO role_assignments (id, role, principal_type, principal) VALUES ($1, $2, 'user', $3)`,
    [randomUUID(), role, dn],
  );
  return sessionClient(app.stack, {
    name: `${role.replace(/\W/g, '')}@example.com`,
    kind: 'directory',
    dn,
    groups: [],
  });
}

describe('post-publish scripts', () => {
  let app: Appliance;
  let task: Task;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    app = await startAppliance();
    const osLayer = await importedOs(app.api, await goldImage());
    const share = await fileshareConnector(app.api, {
      postPublishScript: 'echo "uid=$(id -u)"; echo "cwd=$(pwd)"; touch left-behind; env',
    });
    const templateId = await template(app.api, {
      name: 'Scripted',
      osVersionId: osLayer.versionId,
      connectorId: share.id,
    });
    for (const [name, value] of Object.entries(SECRETS)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    task = await finished(app.api, await app.api.post(`/api/templates/${templateId}/publish`));
  }, 300_000);
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await app?.stop();
  });

  it('run unprivileged, in a scratch folder removed after, with only the preset variables', async () => {
    expect(task.state).toBe('completed');
    const { postPublish } = task.result as PublishImageResult;
    expect(postPublish).toMatchObject({ ran: true, exitCode: 0 });
    const output = postPublish.output!;

    const uid = Number(/^uid=(\d+)$/m.exec(output)?.[1]);
    expect(uid).toBe(Number((await run('id', ['-u', POST_PUBLISH_USER])).stdout));
    expect(uid).not.toBe(0);

    const cwd = /^cwd=(.+)$/m.exec(output)?.[1];
    expect(cwd).toMatch(new RegExp(`^${os.tmpdir()}/lamina-post-publish-`));
    expect(fs.existsSync(cwd!)).toBe(false);

    const names = output
      .split('\n')
      .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line) && !/^(uid|cwd)=/.test(line))
      .map((line) => line.split('=')[0])
      .sort();
    expect(names).toEqual([
      'HOME',
      'LAMINA_CONNECTOR_NAME',
      'LAMINA_CONNECTOR_TYPE',
      'LAMINA_IMAGE_NAME',
      'LAMINA_IMAGE_PATH',
      'LAMINA_IMAGE_SHA256',
      'LAMINA_TEMPLATE_NAME',
      'PATH',
      'PWD',
      'SHLVL',
      'TMPDIR',
      '_',
    ]);
    for (const secret of Object.values(SECRETS)) expect(output).not.toContain(secret);
  });

  it('show their output to connector admins only', async () => {
    const reader = await clientWithRole(app, 'Reader');
    const publisher = await clientWithRole(app, 'Image Publisher');
    const admin = await administratorClient(app.stack);
    for (const caller of [reader, publisher]) {
      for (const path of [`/api/tasks/${task.id}`, `/api/tasks/${task.id}/wait?timeout=1`]) {
        const seen = await caller.get(path);
        expect(seen.status).toBe(200);
        expect(seen.body.result.postPublish).toEqual({ ran: true, exitCode: 0 });
        expect(seen.text).not.toContain('uid=');
      }
    }
    const seen = await admin.get(`/api/tasks/${task.id}`);
    expect(seen.body.result.postPublish.output).toMatch(/^uid=\d+$/m);
  });
});

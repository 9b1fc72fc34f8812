import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Task } from '../../api/tasks/task-service';
import { projectRoot } from '../../lib/project-root';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import { azuriteConnectorThroughApi, serviceClient } from '../azure/fixtures';
import { fileshareConnector, startAppliance, type Appliance } from '../workflows/fixtures';

const run = promisify(execFile);

/** The `lamina` commands shaped like the cmdlets, against a running appliance (API token from the environment). */
describe('lamina ips, task and connector', () => {
  let app: Appliance;
  let azurite: Azurite;
  let env: NodeJS.ProcessEnv;
  let share: { id: string; mountPoint: string };
  let azureId: string;
  const lamina = async (...args: string[]) =>
    (await run(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), ...args], { env })).stdout;

  beforeAll(async () => {
    azurite = await startAzurite();
    await serviceClient(azurite).getContainerClient('images').create();
    app = await startAppliance();
    share = await fileshareConnector(app.api);
    azureId = await azuriteConnectorThroughApi(app.api, azurite, 'Azure for the CLI');
    const token = await app.api.post('/api/tokens', { name: 'cli' });
    expect(token.status).toBe(201);
    env = { ...process.env, LAMINA_API_URL: app.stack.apiUrl!, LAMINA_API_TOKEN: token.body.token };
    await run('qemu-img', ['create', '-f', 'vhdx', path.join(share.mountPoint, 'empty.vhdx'), '64M']);
  }, 300_000);

  afterAll(async () => {
    await app?.stop();
    await azurite?.stop();
  });

  it('lists connectors, uploads with --wait --json, and gets and lists the task', async () => {
    const connectors = JSON.parse(await lamina('connector', 'list', '--type', 'azure', '--json')) as {
      id: string;
    }[];
    expect(connectors.map((c) => c.id)).toEqual([azureId]);

    const task = JSON.parse(
      await lamina(
        'ips',
        'upload',
        '--share',
        share.id,
        '--file',
        'empty.vhdx',
        '--target',
        azureId,
        '--wait',
        '--json',
      ),
    ) as Task;
    expect(task).toMatchObject({ type: 'ipsUpload', state: 'completed', result: { blobName: 'empty.vhd' } });
    expect(
      await serviceClient(azurite).getContainerClient('images').getBlobClient('empty.vhd').exists(),
    ).toBe(true);

    expect(JSON.parse(await lamina('task', 'get', task.id, '--json'))).toMatchObject({
      id: task.id,
      state: 'completed',
    });
    const listed = JSON.parse(await lamina('task', 'list', '--type', 'ipsUpload', '--json')) as Task[];
    expect(listed.map((t) => t.id)).toContain(task.id);
    // Without --json: one line a person reads.
    expect(await lamina('task', 'get', task.id)).toMatch(
      new RegExp(`^${task.id}  completed  Image Portability upload of empty.vhdx`),
    );
  }, 300_000);

  it('exits non-zero naming the refusal when the API refuses the request', async () => {
    await expect(
      lamina('ips', 'upload', '--share', share.id, '--file', 'empty.vhdx', '--target', share.id),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('the disk is on that share already') });
  });
});

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'ldapts';
import { projectRoot } from '../../lib/project-root';
import { startSlapd, type Slapd } from '../../runtime/slapd';
import { expectWorkerFailures, mountedDir, testDir } from '../harness';
import { appPackage, goldImage, run, startAppliance, type Appliance } from '../workflows/fixtures';

const SUFFIX = 'dc=cli,dc=test';
const ROOT_PASSWORD = 'cli-root-pw';
const SERVICE_PASSWORD = 'cli-svc-pw';
const SHARE_PASSWORD = 'Share-Secret-7';
const people = `ou=people,${SUFFIX}`;
const groups = `ou=groups,${SUFFIX}`;

interface Run {
  code: number;
  out: string;
  err: string;
}

/** The directory the junction commands talk to: a service account and one group. */
async function populate(slapd: Slapd): Promise<void> {
  const client = new Client({ url: slapd.url });
  await client.bind(slapd.rootDn, ROOT_PASSWORD);
  await client.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'cli', o: 'CLI' });
  await client.add(people, { objectClass: ['organizationalUnit'], ou: 'people' });
  await client.add(groups, { objectClass: ['organizationalUnit'], ou: 'groups' });
  await client.add(`cn=lamina-svc,${people}`, {
    objectClass: ['inetOrgPerson'],
    cn: 'lamina-svc',
    sn: 'svc',
    uid: 'lamina-svc',
    userPassword: SERVICE_PASSWORD,
  });
  await client.add(`cn=helpdesk,${groups}`, {
    objectClass: ['groupOfNames'],
    cn: 'helpdesk',
    member: [`cn=lamina-svc,${people}`],
  });
  await client.unbind();
}

/**
 * Every console action is a `lamina` command too (issue 20): the commands run as a user runs them, a
 * process of their own with an API token in the environment, against an appliance of the harness
 * (its API and worker in this process, a real Temporal, PostgreSQL and slapd).
 */
describe('lamina commands against a running appliance', () => {
  let app: Appliance;
  let slapd: Slapd;
  let env: NodeJS.ProcessEnv;

  /** Runs `lamina ARGS…`; a non-zero exit is answered, not thrown. */
  const lamina = (...args: string[]) =>
    new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        [path.join(projectRoot(), 'bin', 'lamina'), ...args],
        { env },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }),
      );
    });
  /** Runs a command that must succeed and answers its --json output. */
  const json = async (...args: string[]) => {
    const run = await lamina(...args, '--json');
    expect({ args, code: run.code, err: run.err }).toEqual({ args, code: 0, err: '' });
    return JSON.parse(run.out);
  };

  beforeAll(async () => {
    slapd = await startSlapd({ dir: testDir('slapd'), suffix: SUFFIX, rootPassword: ROOT_PASSWORD });
    await populate(slapd);
    app = await startAppliance();
    const token = await app.api.post('/api/tokens', { name: 'cli commands' });
    expect(token.status).toBe(201);
    env = {
      ...process.env,
      LAMINA_API_URL: app.stack.apiUrl!,
      LAMINA_API_TOKEN: token.body.token,
      SVC_PASSWORD: SERVICE_PASSWORD,
      SHARE_PASSWORD,
    };
  }, 300_000);

  afterAll(async () => {
    await app?.stop();
    await slapd?.stop();
  });

  it('directory junctions, role assignments and API tokens, each with list, create and delete', async () => {
    const junction = await json(
      'junction',
      'create',
      '--name',
      'CLI Directory',
      '--url',
      slapd.url,
      '--bind-dn',
      `cn=lamina-svc,${people}`,
      '--bind-password-env',
      'SVC_PASSWORD',
      '--base-dn',
      SUFFIX,
      '--domain',
      'cli.test',
      '--netbios',
      'CLI',
      '--schema',
      'ldap',
    );
    expect(junction).toMatchObject({ name: 'CLI Directory', bindPasswordSet: true });
    expect(JSON.stringify(junction)).not.toContain(SERVICE_PASSWORD);
    const tested = await lamina('junction', 'test', 'CLI Directory');
    expect(tested.code).toBe(0);
    expect(tested.out).toMatch(/^ok +baseDn/m);
    // An edit changes the settings given and keeps the others.
    const moved = await json(
      'junction',
      'update',
      'CLI Directory',
      '--priority',
      '7',
      '--netbios',
      'CLITEST',
    );
    expect(moved).toMatchObject({ priority: 7, settings: { netbiosName: 'CLITEST', domain: 'cli.test' } });

    const granted = await json('role', 'grant', '--role', 'Reader', '--group', `cn=helpdesk,${groups}`);
    expect(granted).toMatchObject({ role: 'Reader', principalType: 'group' });
    expect((await json('role', 'list')).map((r: { id: string }) => r.id)).toEqual([granted.id]);
    expect((await json('role', 'roles')).map((r: { role: string }) => r.role)).toContain('Image Porter');
    const twoPrincipals = await lamina('role', 'grant', '--role', 'Reader', '--user', 'a', '--group', 'b');
    expect(twoPrincipals).toMatchObject({
      code: 2,
      err: expect.stringMatching(/one of --user DN and --group DN/),
    });
    expect((await lamina('role', 'delete', granted.id)).code).toBe(0);
    expect(await json('role', 'list')).toEqual([]);

    // A token made by the command works until the command revokes it.
    const made = await json('token', 'create', '--name', 'nightly', '--days', '5');
    const asToken = () =>
      fetch(`${app.stack.apiUrl}/api/layers`, { headers: { authorization: `Bearer ${made.token}` } });
    expect((await asToken()).status).toBe(200);
    expect((await lamina('token', 'delete', 'nightly')).code).toBe(0);
    expect((await asToken()).status).toBe(401);
    const listed = await json('token', 'list');
    expect(listed.find((t: { name: string }) => t.name === 'nightly').revokedAt).not.toBeNull();

    // Everything above is in the audit log, under the token's owner.
    const audit = await json('audit', 'list', '--action', 'createDirectoryJunction');
    expect(audit).toEqual([expect.objectContaining({ actor: 'administrator', outcome: 'success' })]);
    const unknown = await lamina('junction', 'get', 'No such directory');
    expect(unknown).toMatchObject({ code: 2, err: expect.stringMatching(/no directory junction is named/) });
    expect((await lamina('junction', 'delete', 'CLI Directory')).code).toBe(0);
    expect(await json('junction', 'list')).toEqual([]);
  }, 120_000);

  it('connectors: create with a secret from the environment, edit, test --wait, delete', async () => {
    const mountPoint = mountedDir('cli-share');
    const created = await json(
      'connector',
      'create',
      '--type',
      'fileshare',
      '--name',
      'CLI share',
      '--setting',
      'path=\\\\files\\cli',
      '--setting',
      `mountPoint=${mountPoint}`,
      '--secret',
      'password=SHARE_PASSWORD',
    );
    expect(created).toMatchObject({ type: 'fileshare', secretsSet: { password: true } });
    const shown = await lamina('connector', 'get', 'CLI share', '--json');
    expect(shown.out).not.toContain(SHARE_PASSWORD);
    const renamed = await json(
      'connector',
      'update',
      created.id,
      '--name',
      'CLI images',
      '--setting',
      'maxMiBps=40',
    );
    expect(renamed).toMatchObject({ name: 'CLI images', settings: { mountPoint, maxMiBps: 40 } });
    const missingSecret = await lamina(
      'connector',
      'update',
      'CLI images',
      '--secret',
      'password=NOT_SET_VAR',
    );
    expect(missingSecret).toMatchObject({ code: 2, err: expect.stringMatching(/NOT_SET_VAR is not set/) });

    const tested = await lamina('connector', 'test', 'CLI images', '--wait');
    expect({ code: tested.code, err: tested.err }).toEqual({ code: 0, err: '' });
    expect(tested.out).toMatch(/^ok +mountPoint/m);
    expect((await lamina('connector', 'delete', 'CLI images')).code).toBe(0);
    expect(await json('connector', 'list', '--name', 'CLI images')).toEqual([]);
  }, 120_000);

  it('layers and versions, templates, elastic assignments and a share sync, storage locations, layer transfer --wait; a failed task retried', async () => {
    const os = await json('layer', 'create', '--type', 'os', '--name', 'Win CLI');
    const imported = await json(
      'layer',
      'add-version',
      'Win CLI',
      '--version',
      '1',
      '--disk',
      await goldImage(),
      '--wait',
    );
    expect(imported).toMatchObject({ type: 'importOsLayer', state: 'completed' });
    const [osVersion] = await json('layer', 'versions', 'Win CLI');
    expect(osVersion).toMatchObject({
      version: '1',
      state: 'Deployable',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    await json('layer', 'create', '--type', 'app', '--name', 'Tools CLI', '--os-layer', os.id);
    const pkg = await appPackage({ 'Tools\\tool.txt': 'from the command line' }, { Tools: 'Made=CLI' });
    const built = await json(
      'layer',
      'add-version',
      'Tools CLI',
      '--version',
      '1',
      '--zip',
      pkg.zip,
      '--reg',
      pkg.reg!,
      '--wait',
    );
    expect(built).toMatchObject({ type: 'buildLayerFromPackage', state: 'completed' });
    const [appVersion] = await json('layer', 'versions', 'Tools CLI');
    expect(appVersion.state).toBe('Deployable');
    const inUse = await lamina('layer', 'delete', 'Win CLI');
    expect(inUse.code).toBe(1);
    // The refusal as the API explained it: what still uses the layer.
    expect(inUse.err).toMatch(/HTTP 409 .*\n {2}used by layer bound to it 'Tools CLI'/);

    // A zip that is not one: the build fails, and a retry is a new run of the same task that fails too.
    const notZip = path.join(testDir('not-zip'), 'broken.zip');
    fs.writeFileSync(notZip, 'this is not a zip');
    const failed = await lamina(
      'layer',
      'add-version',
      'Tools CLI',
      '--version',
      '2',
      '--zip',
      notZip,
      '--wait',
      '--json',
    );
    expect(failed.code).toBe(1);
    const failedTask = JSON.parse(failed.out);
    expect(failedTask).toMatchObject({ type: 'buildLayerFromPackage', state: 'failed' });
    const retried = await lamina('task', 'retry', failedTask.id, '--wait', '--json');
    expect(retried.code).toBe(1);
    const retriedTask = JSON.parse(retried.out);
    expect(retriedTask).toMatchObject({ type: 'buildLayerFromPackage', state: 'failed' });
    expect(retriedTask.id).not.toBe(failedTask.id);
    expectWorkerFailures(
      { kind: 'activity', type: 'buildLayerDisk' },
      { kind: 'workflow', type: 'buildLayerFromPackage' },
    );

    const share = await json(
      'connector',
      'create',
      '--type',
      'fileshare',
      '--name',
      'Template share',
      '--setting',
      'path=\\\\files\\images',
      '--setting',
      `mountPoint=${mountedDir('cli-images')}`,
    );
    const template = await json(
      'template',
      'create',
      '--name',
      'CLI desktop',
      '--os',
      osVersion.id,
      '--app',
      appVersion.id,
      '--connector',
      share.id,
      '--size-gb',
      '2',
      '--format',
      'VHDX',
      '--firmware',
      'UEFI',
    );
    expect(template).toMatchObject({ name: 'CLI desktop', appVersionIds: [appVersion.id], diskSizeGb: 2 });
    expect(await json('template', 'update', 'CLI desktop', '--size-gb', '3')).toMatchObject({
      diskSizeGb: 3,
    });
    expect(await json('template', 'get', template.id)).toMatchObject({ name: 'CLI desktop', diskSizeGb: 3 });
    const badFormat = await lamina('template', 'update', 'CLI desktop', '--format', 'QCOW2');
    expect(badFormat.code).toBe(1);
    expect(badFormat.err).toMatch(/diskFormat/);
    expect((await lamina('template', 'delete', 'CLI desktop')).code).toBe(0);
    expect(await json('template', 'list')).toEqual([]);

    const assignment = await json(
      'elastic',
      'assignment',
      'create',
      '--version',
      appVersion.id,
      '--machine',
      'VDI-CLI-*',
    );
    expect(assignment).toMatchObject({ layerVersionId: appVersion.id, machinePatterns: ['VDI-CLI-*'] });
    expect(
      await json(
        'elastic',
        'assignment',
        'update',
        assignment.id,
        '--machine',
        'VDI-A-*',
        '--machine',
        'VDI-B-*',
      ),
    ).toMatchObject({ machinePatterns: ['VDI-A-*', 'VDI-B-*'] });
    expect((await json('elastic', 'assignment', 'list')).map((a: { id: string }) => a.id)).toEqual([
      assignment.id,
    ]);
    // The share's sync, started and followed by the command: the assigned version's disk lands there.
    const elasticMount = mountedDir('cli-elastic');
    const elasticShare = await app.api.post('/api/system-settings/elastic-shares', {
      name: 'CLI elastic',
      sharePath: '\\\\files\\elastic',
      mountPoint: elasticMount,
    });
    expect(elasticShare.status).toBe(201);
    expect(await json('elastic', 'sync', '--wait')).toMatchObject({
      type: 'elasticSync',
      state: 'completed',
    });
    await run('qemu-img', ['check', path.join(elasticMount, 'Layers', `${appVersion.id}.vhdx`)]);

    // Both versions exported with --wait, then the export imported back: all skipped, already here.
    const transfer = mountedDir('cli-transfer');
    const where = ['--mount-point', transfer, '--folder', 'dr'];
    const exported = await lamina(
      'layer-transfer',
      'export',
      ...where,
      '--version',
      appVersion.id,
      '--version',
      osVersion.id,
      '--wait',
    );
    expect({ code: exported.code, err: exported.err }).toEqual({ code: 0, err: '' });
    expect(exported.out).toBe("exported layer 'Win CLI' version 1\nexported layer 'Tools CLI' version 1\n");
    const manifest = JSON.parse(fs.readFileSync(path.join(transfer, 'dr', 'manifest.json'), 'utf8'));
    expect(manifest.versions.map((v: { sha256: string }) => v.sha256)).toEqual([
      osVersion.sha256,
      appVersion.sha256,
    ]);
    const importedAgain = await lamina('layer-transfer', 'import', ...where, '--wait');
    expect(importedAgain.out).toMatch(/^skipped layer 'Win CLI' version 1 \(already here\)$/m);
    const started = await json('layer-transfer', 'import', ...where);
    // Without --wait the command prints the task it started; task wait follows it.
    expect(started).toMatchObject({ type: 'layerTransfer' });
    expect(await json('task', 'wait', started.id)).toMatchObject({ state: 'completed' });
    expect((await lamina('elastic', 'assignment', 'delete', assignment.id)).code).toBe(0);

    const location = await json(
      'user-layer',
      'location',
      'create',
      '--name',
      'Main',
      '--share',
      '\\\\files\\users',
      '--priority',
      '5',
    );
    expect(location).toMatchObject({
      name: 'Main',
      sharePath: '\\\\files\\users',
      priority: 5,
      adGroups: [],
    });
    expect((await json('user-layer', 'location', 'list')).map((l: { name: string }) => l.name)).toEqual([
      'Main',
    ]);
    expect((await lamina('user-layer', 'location', 'delete', 'Main')).code).toBe(0);
    expect(await json('user-layer', 'location', 'list')).toEqual([]);
  }, 300_000);

  it('lamina --help lists the commands, and each one documents its actions', async () => {
    const help = await lamina('--help');
    for (const command of [
      'layer',
      'template',
      'connector',
      'junction',
      'role',
      'token',
      'audit',
      'task',
      'elastic',
      'user-layer',
    ])
      expect(help.out).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect((await lamina('connector', '--help')).out).toMatch(/lamina connector test ID\|NAME \[--wait\]/);
    expect((await lamina('layer', '--help')).out).toMatch(/lamina layer add-version LAYER --version V/);
    expect((await lamina('elastic', '--help')).out).toMatch(/lamina elastic assignment create --version/);
    expect((await lamina('user-layer', '--help')).out).toMatch(/lamina user-layer location create --name/);
    expect((await lamina('task', '--help')).out).toMatch(/lamina task retry TASK \[--wait\]/);
  });
});

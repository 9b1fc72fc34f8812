import fs from 'node:fs';
import path from 'node:path';
import { elasticJsonSchemas } from '../../cli/commands/elastic';
import { projectRoot } from '../../lib/project-root';
import { expectWorkerFailures, mountedDir } from '../harness';
import {
  appPackage,
  builtLayer,
  completed,
  createLayer,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  run,
  startAppliance,
  upload,
  type Appliance,
} from '../workflows/fixtures';
import { joinDirectory, SIDS, startAdDirectory, type AdDirectory } from './ad-directory';
import { readShareFiles } from './share-files';

describe('elastic layers delivered to a share, assigned through a real directory (slapd with objectSid)', () => {
  let directory: AdDirectory;
  let app: Appliance;
  let share: { id: string; mountPoint: string };
  let osLayerId: string;
  const apps: Record<'A' | 'B' | 'C', { layerId: string; versionId: string; sha256: string }> = {} as never;

  const sync = () => app.api.post(`/api/system-settings/elastic-shares/${share.id}/sync`);
  const resolve = async (user: string, machine: string) => {
    const answer = await app.api.get(
      `/api/system-settings/elastic-shares/${share.id}/resolve?${new URLSearchParams({ user, machine })}`,
    );
    if (answer.status !== 200) throw new Error(`resolve: ${answer.status} ${answer.text}`);
    return (answer.body.elasticLayers as { name: string }[]).map((l) => l.name);
  };

  beforeAll(async () => {
    directory = await startAdDirectory();
    app = await startAppliance();
    await joinDirectory(app.api, directory);
    const os = await importedOs(app.api, await goldImage());
    osLayerId = os.layerId;
    // Created C, A, B: priority is creation order, whatever the names or the order of assignment.
    apps.C = await builtLayer(app.api, 'app', 'App C', os.layerId, { 'Program Files\\C\\c.txt': 'c' });
    apps.A = await builtLayer(app.api, 'app', 'App A', os.layerId, { 'Program Files\\A\\a.txt': 'a' });
    apps.B = await builtLayer(app.api, 'app', 'App B', os.layerId, { 'Program Files\\B\\b.txt': 'b' });
    const mountPoint = mountedDir('elastic-share');
    const created = await app.api.post('/api/system-settings/elastic-shares', {
      name: 'Elastic',
      sharePath: '\\\\files\\elastic',
      user: 'EXAMPLE\\lamina-share',
      password: 'Share-Password-19',
      mountPoint,
    });
    expect(created.status).toBe(201);
    share = { id: created.body.id, mountPoint };
  }, 600_000);
  afterAll(async () => {
    await app?.stop();
    await directory?.stop();
  });

  it('keeps the share password sealed: answers only say it is set, the database holds no plain text', async () => {
    const answer = await app.api.get(`/api/system-settings/elastic-shares/${share.id}`);
    expect(answer.body).toMatchObject({ passwordSet: true, user: 'EXAMPLE\\lamina-share' });
    expect(answer.text).not.toContain('Share-Password-19');
    const { rows } = await app.stack.pool.query('SELECT password::text AS p FROM elastic_shares');
    expect(rows[0].p).not.toContain('Share-Password-19');
    expect(JSON.parse(rows[0].p)).toEqual(
      expect.objectContaining({ kid: expect.any(String), tag: expect.any(String) }),
    );
  });

  it('refuses a share whose mount point is not mounted, naming the setting', async () => {
    const refused = await app.api.post('/api/system-settings/elastic-shares', {
      name: 'Not mounted',
      sharePath: '\\\\files\\other',
      mountPoint: fs.mkdtempSync(path.join(app.config.dataDir, '..', 'plain-')),
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      expect.objectContaining({
        field: 'body.mountPoint',
        message: expect.stringMatching(/is not a mount point/),
      }),
    ]);
  });

  it('refuses assignments to names the directory does not know, and stores nothing', async () => {
    const unknownUser = await app.api.post('/api/elastic-assignments', {
      layerVersionId: apps.A.versionId,
      users: ['EXAMPLE\\mallory'],
    });
    expect(unknownUser.status).toBe(422);
    expect(unknownUser.body.errors[0].message).toBe(
      "the directory 'Example AD' has no user 'EXAMPLE\\mallory'",
    );
    const unknownDomain = await app.api.post('/api/elastic-assignments', {
      layerVersionId: apps.A.versionId,
      groups: ['OTHER\\finance'],
    });
    expect(unknownDomain.status).toBe(422);
    expect(unknownDomain.body.errors[0].message).toBe("no directory junction serves the domain 'OTHER'");
    const bare = await app.api.post('/api/elastic-assignments', {
      layerVersionId: apps.A.versionId,
      users: ['alice'],
    });
    expect(bare.status).toBe(422);
    expect(bare.body.errors[0].message).toMatch(/does not name its domain/);
    expect((await app.api.get('/api/elastic-assignments')).body.items).toEqual([]);
  });

  it('gives layers built from a package a verdict from their content, and refuses unfit ones with its reasons', async () => {
    // A driver package: a kernel driver starting at boot, its file and the driver store's copy.
    const pkg = await appPackage({
      'Windows\\System32\\drivers\\acmeflt.sys': 'driver',
      'Windows\\System32\\DriverStore\\FileRepository\\acmeflt.inf_amd64\\acmeflt.inf': '[Version]',
    });
    const reg = path.join(path.dirname(pkg.zip), 'driver.reg');
    fs.writeFileSync(
      reg,
      [
        'Windows Registry Editor Version 5.00',
        '',
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\acmeflt]',
        '"Type"=dword:00000001',
        '"Start"=dword:00000000',
        '',
      ].join('\r\n'),
    );
    const layerId = await createLayer(app.api, 'app', 'Acme Driver', osLayerId);
    const driver = await completed<{ versionId: string }>(
      app.api,
      await app.api.post(`/api/layers/${layerId}/versions/build`, {
        version: '1',
        content: await upload(app.api, pkg.zip),
        reg: await upload(app.api, reg),
      }),
    );
    const version = await app.api.get(`/api/layers/${layerId}/versions/${driver.versionId}`);
    expect(version.body).toMatchObject({
      elasticFit: 'unfit',
      elasticFitReasons: [
        { rule: 'kernel-driver', detail: 'service acmeflt is a driver (Type=1)' },
        { rule: 'boot-start', detail: 'service acmeflt starts before logon (Start=0)' },
        { rule: 'kernel-driver', detail: 'installs the driver /Windows/System32/drivers/acmeflt.sys' },
        {
          rule: 'driver-store',
          detail:
            'adds /Windows/System32/DriverStore/FileRepository/acmeflt.inf_amd64/acmeflt.inf to the driver store',
        },
      ],
    });
    const refused = await app.api.post('/api/elastic-assignments', {
      layerVersionId: driver.versionId,
      machinePatterns: ['FIN-*'],
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      {
        field: 'body.layerVersionId',
        message:
          'the version is not fit to be an elastic layer (kernel-driver: service acmeflt is a driver (Type=1); ' +
          'boot-start: service acmeflt starts before logon (Start=0); ' +
          'kernel-driver: installs the driver /Windows/System32/drivers/acmeflt.sys; ' +
          'driver-store: adds /Windows/System32/DriverStore/FileRepository/acmeflt.inf_amd64/acmeflt.inf to the driver store); ' +
          'include it in images instead',
      },
    ]);
    // The apps of plain files are fit.
    const appA = await app.api.get(`/api/layers/${apps.A.layerId}/versions/${apps.A.versionId}`);
    expect(appA.body).toMatchObject({ elasticFit: 'fit', elasticFitReasons: [] });
    expect((await app.api.get('/api/elastic-assignments')).body.items).toEqual([]);
  }, 300_000);

  it('writes the layers and three files valid against the published schemas, with the SIDs of the directory', async () => {
    const assign = async (body: object) => {
      const created = await app.api.post('/api/elastic-assignments', body);
      expect(created.status).toBe(201);
      return created.body;
    };
    // B first: the files order layers by creation, not by assignment.
    const toGroup = await assign({ layerVersionId: apps.B.versionId, groups: ['EXAMPLE\\it-staff'] });
    expect(toGroup.principals).toEqual([
      {
        name: 'EXAMPLE\\it-staff',
        kind: 'group',
        sid: SIDS.itStaff,
        dn: 'cn=it-staff,ou=groups,dc=example,dc=com',
      },
    ]);
    await assign({ layerVersionId: apps.A.versionId, users: ['alice@example.com'] });
    await assign({ layerVersionId: apps.C.versionId, machinePatterns: ['fin-*'] });

    const result = await completed<{ layers: number; copied: number; passes: number }>(app.api, await sync());
    expect(result).toMatchObject({ layers: 3, copied: 3, passes: 1 });

    const files = readShareFiles(share.mountPoint);
    const generations = Object.values(files).map((f) => f.generation);
    expect(new Set(generations).size).toBe(1);
    const layers = files['Layers.json'].layers;
    expect(layers.map((l) => l.name)).toEqual(['App C', 'App A', 'App B']);
    for (const [key, layer] of [
      ['C', layers[0]],
      ['A', layers[1]],
      ['B', layers[2]],
    ] as const) {
      expect(layer).toMatchObject({ id: apps[key].versionId, sha256: apps[key].sha256 });
      expect(layer.path).toBe(`\\\\files\\elastic\\Layers\\${apps[key].versionId}.vhdx`);
      // The copy on the share has the layer's hash, checked by an outside tool.
      const copy = path.join(share.mountPoint, 'Layers', `${apps[key].versionId}.vhdx`);
      expect((await run('sha256sum', [copy])).stdout.split(' ')[0]).toBe(apps[key].sha256);
      await run('qemu-img', ['check', copy]);
    }
    expect(files['ElasticLayerAssignment.json'].assignments).toEqual(
      [
        { sid: SIDS.alice, kind: 'user', name: 'EXAMPLE\\alice', layers: [apps.A.versionId] },
        { sid: SIDS.itStaff, kind: 'group', name: 'EXAMPLE\\it-staff', layers: [apps.B.versionId] },
      ].sort((a, b) => a.sid.localeCompare(b.sid)),
    );
    expect(files['MachineAssociations.json'].associations).toEqual([
      { pattern: 'FIN-*', layers: [apps.C.versionId] },
    ]);
    // Nothing else on the share: no temporary, partial or journal file.
    expect(filesUnder(share.mountPoint).sort()).toEqual(
      [
        'ElasticLayerAssignment.json',
        'Layers.json',
        'MachineAssociations.json',
        ...['A', 'B', 'C'].map((k) => `Layers/${apps[k as 'A'].versionId}.vhdx`),
      ].sort(),
    );
  }, 300_000);

  it('resolves a logon in priority order: user, nested group and machine pattern', async () => {
    // alice: her own (A) and it-staff's through helpdesk (B); on a FIN machine also C, created first.
    expect(await resolve('EXAMPLE\\alice', 'FIN-042')).toEqual(['App C', 'App A', 'App B']);
    expect(await resolve('EXAMPLE\\alice', 'HR-7')).toEqual(['App A', 'App B']);
    expect(await resolve('EXAMPLE\\bob', 'fin-1')).toEqual(['App C']);
    expect(await resolve('EXAMPLE\\bob', 'HR-7')).toEqual([]);
    const unknown = await app.api.get(
      `/api/system-settings/elastic-shares/${share.id}/resolve?user=EXAMPLE%5Cnobody&machine=HR-7`,
    );
    expect(unknown.status).toBe(422);
  });

  it('prints the resolution with `lamina elastic resolve`', async () => {
    const token = await app.api.post('/api/tokens', { name: 'cli' });
    expect(token.status).toBe(201);
    const { stdout } = await run(
      process.execPath,
      [
        path.join(projectRoot(), 'bin', 'lamina'),
        'elastic',
        'resolve',
        '--user',
        'EXAMPLE\\alice',
        '--machine',
        'FIN-042',
      ],
      { env: { ...process.env, LAMINA_API_URL: app.stack.apiUrl!, LAMINA_API_TOKEN: token.body.token } },
    );
    const base = '(creation';
    expect(stdout.split('\n').filter(Boolean)).toEqual([
      `Logon of EXAMPLE\\alice (${SIDS.alice}) on FIN-042, from 'Elastic', lowest priority first:`,
      '  1  base image (its layers composited: OS, apps in creation order, platform)',
      expect.stringMatching(
        new RegExp(
          `^  2  elastic layer 'App C' version 1 \\${base} \\d+\\) \\\\\\\\files\\\\elastic\\\\Layers\\\\${apps.C.versionId}\\.vhdx$`,
        ),
      ),
      expect.stringMatching(/^ {2}3 {2}elastic layer 'App A' version 1 /),
      expect.stringMatching(/^ {2}4 {2}elastic layer 'App B' version 1 /),
      '  5  user layer (when the image has user layers enabled)',
    ]);
  }, 60_000);

  it('removes layers no longer assigned, and two requests during a sync make one more pass', async () => {
    const assignments = (await app.api.get('/api/elastic-assignments')).body.items as {
      id: string;
      layerVersionId: string;
    }[];
    const ofA = assignments.find((a) => a.layerVersionId === apps.A.versionId)!;
    expect((await app.api.delete(`/api/elastic-assignments/${ofA.id}`)).status).toBe(204);
    const first = await sync();
    const second = await sync();
    const third = await sync();
    // One task per share: the requests met the running sync.
    expect(new Set([first.body.id, second.body.id, third.body.id]).size).toBe(1);
    const result = await completed<{ passes: number; removed: string[]; copied: number }>(app.api, third);
    expect(result.passes).toBeLessThanOrEqual(2);
    expect(result.copied).toBe(0);
    const files = readShareFiles(share.mountPoint);
    expect(files['Layers.json'].layers.map((l) => l.name)).toEqual(['App C', 'App B']);
    expect(fs.existsSync(path.join(share.mountPoint, 'Layers', `${apps.A.versionId}.vhdx`))).toBe(false);
    expect(await resolve('EXAMPLE\\alice', 'FIN-042')).toEqual(['App C', 'App B']);
  }, 120_000);

  it('refuses to save an assignment naming a group that no longer exists; the stored one is kept', async () => {
    const ofB = (
      (await app.api.get('/api/elastic-assignments')).body.items as { id: string; layerVersionId: string }[]
    ).find((a) => a.layerVersionId === apps.B.versionId)!;
    await directory.deleteGroup('finance');
    const edit = await app.api.patch(`/api/elastic-assignments/${ofB.id}`, {
      groups: ['EXAMPLE\\it-staff', 'EXAMPLE\\finance'],
    });
    expect(edit.status).toBe(422);
    expect(edit.body.errors[0].message).toBe("the directory 'Example AD' has no group 'EXAMPLE\\finance'");
    expect((await app.api.get(`/api/elastic-assignments/${ofB.id}`)).body.groups).toEqual([
      'EXAMPLE\\it-staff',
    ]);
  });

  it('fails a sync to a share that is no longer mounted at once, naming it, and leaves its files', async () => {
    const before = readShareFiles(share.mountPoint);
    await run('umount', [share.mountPoint]);
    try {
      const task = await finished(app.api, await sync());
      expect(task.state).toBe('failed');
      expect(task.error).toMatch(
        /elastic layer share 'Elastic' \(\\\\files\\elastic\) cannot be reached at .*is not a mount point/,
      );
      expectWorkerFailures(
        { kind: 'activity', type: 'planElasticSync', error: /cannot be reached/ },
        { kind: 'workflow', type: 'elasticSync', error: /cannot be reached/ },
      );
    } finally {
      await run('mount', ['--bind', share.mountPoint, share.mountPoint]);
    }
    expect(readShareFiles(share.mountPoint)).toEqual(before);
  }, 120_000);

  it('publishes JSON Schemas equal to the ones the files are checked against', () => {
    for (const [name, schema] of Object.entries(elasticJsonSchemas())) {
      const published = JSON.parse(
        fs.readFileSync(path.join(projectRoot(), 'schemas', 'elastic', name), 'utf8'),
      );
      expect(published).toEqual(schema);
    }
  });
});

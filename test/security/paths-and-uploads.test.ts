import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ConfigError } from '../../config/env';
import type { ApiClient } from '../api-client';
import { expectWorkerFailures, importDir, mountedDir, testConfig, testDir } from '../harness';
import {
  appPackage,
  builtLayer,
  createLayer,
  eventually,
  finished,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  upload,
  type Appliance,
} from '../workflows/fixtures';

/** Posts raw bytes to /api/uploads, and for a body over the limit waits for the answer before sending more. */
function rawUpload(
  api: ApiClient,
  options: { declaredBytes?: number; chunks: Buffer[] },
): Promise<{ status: number; body: { detail?: string; errors?: { field: string }[] } }> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${api.baseUrl}/api/uploads`, {
      method: 'POST',
      headers: {
        ...api.headers,
        'content-type': 'application/octet-stream',
        ...(options.declaredBytes === undefined
          ? { 'transfer-encoding': 'chunked' }
          : { 'content-length': String(options.declaredBytes) }),
      },
    });
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    request.on('error', reject);
    request.flushHeaders();
    for (const chunk of options.chunks) request.write(chunk);
    // A client sending more than it declared, or past the limit, never ends: the server has to answer first.
    const sent = options.chunks.reduce((sum, c) => sum + c.length, 0);
    if (options.declaredBytes === undefined ? sent <= MiB : sent === options.declaredBytes) request.end();
  });
}

const MiB = 2 ** 20;

describe('paths a caller names, uploads, and response headers', () => {
  let app: Appliance;
  let os: { layerId: string; versionId: string };
  const uploadsDir = () => app.config.uploads.dir;

  beforeAll(async () => {
    app = await startAppliance({ env: { LAMINA_UPLOAD_MAX_MIB: '1' } });
    os = await importedOs(app.api, await goldImage());
  });
  afterAll(() => app?.stop());

  describe('disk paths to import', () => {
    const importing = (diskPath: string) =>
      app.api.post(`/api/layers/${os.layerId}/versions/import`, { version: 'probe', source: { diskPath } });
    const refusal = async (diskPath: string) => {
      const response = await importing(diskPath);
      return {
        status: response.status,
        fields: response.body.errors?.map((e: { field: string }) => e.field),
      };
    };

    it('refuses files outside the import folders, through symlinks and .., and anything but a regular file', async () => {
      const folder = importDir('probe');
      fs.symlinkSync('/etc/shadow', path.join(folder, 'shadow.vhdx'));
      fs.mkdirSync(path.join(folder, 'folder.vhdx'));
      const refused = { status: 422, fields: ['body.source.diskPath'] };
      for (const diskPath of [
        '/etc/shadow',
        '/proc/self/environ',
        path.join(folder, 'shadow.vhdx'),
        `${folder}/../../../../../../etc/shadow`,
        path.join(folder, 'folder.vhdx'),
        path.join(folder, 'missing.vhdx'),
        '/dev/zero',
      ]) {
        expect({ diskPath, ...(await refusal(diskPath)) }).toEqual({ diskPath, ...refused });
      }
      const outside = await importing('/proc/self/environ');
      expect(outside.body.detail).toMatch(/must be a file inside an import folder \(LAMINA_IMPORT_DIRS: /);
      expect((await importing(path.join(folder, 'shadow.vhdx'))).body.detail).toMatch(
        /leads to \/etc\/shadow/,
      );
      // No version was started for any of them.
      const versions = await app.api.get(`/api/layers/${os.layerId}/versions`);
      expect(versions.body.total).toBe(1);
    });

    it('refuses import folders that would hold the system or Lamina itself', () => {
      const configError = (dirs: string, env: Record<string, string> = {}) => {
        try {
          testConfig('postgres://unused/db', { LAMINA_IMPORT_DIRS: dirs, ...env });
        } catch (err) {
          return err instanceof ConfigError ? err.problems : [String(err)];
        }
        return [];
      };
      expect(configError('/')).toEqual([expect.stringMatching(/^LAMINA_IMPORT_DIRS: \/ holds \//)]);
      expect(configError('/var')).toEqual([expect.stringMatching(/\/var holds \/var\/lib/)]);
      const data = testDir('data');
      expect(configError(data, { LAMINA_DATA_DIR: data })).toEqual([
        `LAMINA_IMPORT_DIRS: ${data} holds ${data}; name folders that only hold disks to import`,
      ]);
      expect(configError(`${importDir('ok')}:/srv/images`)).toEqual([]);
    });
  });

  describe('file share mount points', () => {
    const creating = (mountPoint: string) =>
      app.api.post('/api/connectors', {
        type: 'fileshare',
        name: `Share ${mountPoint}`,
        settings: { path: '\\\\files\\images', mountPoint },
      });

    it('takes only real mounts outside system folders and Lamina’s own, on create and on edit', async () => {
      const insideData = path.join(app.config.dataDir, 'share');
      const plainFolder = testDir('not-mounted');
      const cases: [string, RegExp][] = [
        ['/', /is the root folder/],
        ['/etc', /is in the system folder \/etc/],
        ['/proc', /is in the system folder \/proc/],
        ['/dev/shm', /is in the system folder \/dev/],
        ['/lib64', /^\/lib64 .*is in the system folder \/(usr|lib64)$/],
        [plainFolder, /is not a mount point; mount the share there first/],
        ['/no/such/folder', /does not exist/],
      ];
      try {
        // A real mount, but inside the data folder (next to the master key and the database).
        fs.mkdirSync(insideData);
        execFileSync('mount', ['--bind', insideData, insideData]);
        cases.push([insideData, /is in Lamina's own folder/]);
        for (const [mountPoint, rule] of cases) {
          const response = await creating(mountPoint);
          expect({ mountPoint, status: response.status, errors: response.body.errors }).toEqual({
            mountPoint,
            status: 422,
            errors: [{ field: 'body.settings.mountPoint', message: expect.stringMatching(rule) }],
          });
        }
      } finally {
        unmount(insideData);
      }

      const share = mountedDir('share');
      const created = await creating(share);
      expect(created.status).toBe(201);
      const edit = await app.api.patch(`/api/connectors/${created.body.id}`, {
        settings: { path: '\\\\files\\images', mountPoint: '/etc' },
      });
      expect(edit.status).toBe(422);
      expect(edit.body.errors).toEqual([
        { field: 'body.settings.mountPoint', message: '/etc is in the system folder /etc' },
      ]);
      expect((await app.api.get(`/api/connectors/${created.body.id}`)).body.settings.mountPoint).toBe(share);

      // The share comes unmounted: the connector's own test says so instead of writing to the local disk.
      const testing = async () =>
        (await finished(app.api, await app.api.post(`/api/connectors/${created.body.id}/test`))).result as {
          checks: { field: string; ok: boolean; message: string }[];
        };
      expect((await testing()).checks).toEqual([expect.objectContaining({ field: 'mountPoint', ok: true })]);
      unmount(share);
      expect((await testing()).checks).toEqual([
        { field: 'mountPoint', ok: false, message: expect.stringMatching(/is not a mount point/) },
      ]);
      expect(fs.readdirSync(share)).toEqual([]);
    });
  });

  describe('uploads', () => {
    const uploads = () => (fs.existsSync(uploadsDir()) ? fs.readdirSync(uploadsDir()).sort() : []);

    it('refuses empty uploads and uploads over LAMINA_UPLOAD_MAX_MIB, declared or streamed, and keeps nothing of them', async () => {
      const before = uploads();
      expect(await rawUpload(app.api, { declaredBytes: 0, chunks: [] })).toEqual({
        status: 422,
        body: expect.objectContaining({ errors: [{ field: 'body', message: 'must not be empty' }] }),
      });
      expect(await rawUpload(app.api, { chunks: [] })).toMatchObject({ status: 422 });
      const declared = await rawUpload(app.api, { declaredBytes: MiB + 1, chunks: [] });
      expect(declared).toEqual({
        status: 413,
        body: expect.objectContaining({
          detail: 'An upload may hold at most 1 MiB (LAMINA_UPLOAD_MAX_MIB).',
        }),
      });
      expect(await rawUpload(app.api, { chunks: [Buffer.alloc(MiB + 1)] })).toMatchObject({ status: 413 });
      expect(await rawUpload(app.api, { declaredBytes: MiB, chunks: [Buffer.alloc(MiB)] })).toMatchObject({
        status: 201,
        body: { sizeBytes: MiB },
      });
      expect(uploads().length).toBe(before.length + 1);
    });

    it('removes the uploads a build used once it succeeded; a failed build keeps them for its retry', async () => {
      const before = uploads();
      await builtLayer(
        app.api,
        'app',
        'Uploads used',
        os.layerId,
        { 'Program Files\\Used\\a.txt': 'a' },
        { Used: 'Version=1' },
      );
      expect(uploads()).toEqual(before);

      // Built on an OS version that does not exist: the build fails, and its upload stays for a retry.
      const pkg = await appPackage({ 'Program Files\\Kept\\a.txt': 'a' });
      const content = await upload(app.api, pkg.zip);
      const layerId = await createLayer(app.api, 'app', 'Failed build', os.layerId);
      const failed = await finished(
        app.api,
        await app.api.post(`/api/layers/${layerId}/versions/build`, {
          version: '1',
          content,
          osVersionId: randomUUID(),
        }),
      );
      expect(failed.state).toBe('failed');
      expect(uploads()).toContain(content);
      const retried = await finished(app.api, await app.api.post(`/api/tasks/${failed.id}/retry`));
      expect(retried.state).toBe('failed');
      expect(retried.error).toBe(failed.error);
      const notDeployable = /the layer's OS layer has no Deployable version/;
      expectWorkerFailures(
        { kind: 'activity', type: 'prepareLayerVersion', error: notDeployable },
        { kind: 'workflow', type: 'buildLayerFromPackage', error: notDeployable },
      );

      // An upload a task used is gone: naming it again is a 422, not a task that fails later.
      const once = await upload(app.api, (await appPackage({ 'Program Files\\Again\\a.txt': 'a' })).zip);
      const again = await createLayer(app.api, 'app', 'Used twice', os.layerId);
      const first = await finished(
        app.api,
        await app.api.post(`/api/layers/${again}/versions/build`, { version: '1', content: once }),
      );
      expect(first.state).toBe('completed');
      const second = await app.api.post(`/api/layers/${again}/versions/build`, {
        version: '2',
        content: once,
      });
      expect(second.status).toBe(422);
      expect(second.body.errors).toEqual([
        { field: 'body.content', message: expect.stringMatching(/^no upload/) },
      ]);
    });

    it('removes the uploads installed into a packaging machine (the local connector stand-in)', async () => {
      const layerId = await createLayer(app.api, 'app', 'Installed from uploads', os.layerId);
      const started = await app.api.post(`/api/layers/${layerId}/versions/package`, {
        version: '1',
        connectorId: LOCAL_CONNECTOR,
        powerPollSeconds: 3600,
      });
      const vmId = await eventually(async () => {
        const version = (await app.api.get(`/api/layers/${layerId}/versions`)).body.items[0];
        return version?.state === 'ActionRequired' ? (version.action.vm.id as string) : undefined;
      });
      const pkg = await appPackage({ 'Program Files\\Installed\\a.txt': 'a' }, { Installed: 'Version=1' });
      const install = { content: await upload(app.api, pkg.zip), reg: await upload(app.api, pkg.reg!) };
      const vm = `/api/connectors/${LOCAL_CONNECTOR}/vms/${vmId}`;
      const installed = await finished(app.api, await app.api.post(`${vm}/install`, install));
      expect(installed.state).toBe('completed');
      const left = fs.readdirSync(uploadsDir()).filter((f) => Object.values(install).includes(f));
      expect(left).toEqual([]);
      const again = await app.api.post(`${vm}/install`, install);
      expect(again.status).toBe(422);
      expect(again.body.errors.map((e: { field: string }) => e.field)).toEqual(['body.content']);
      expect((await finished(app.api, await app.api.post(`${vm}/shutdown`))).state).toBe('completed');
      expect((await finished(app.api, started)).state).toBe('completed');
    });

    it('removes uploads older than LAMINA_UPLOAD_TTL_HOURS when the API starts', async () => {
      const dataDir = testDir('data');
      const dir = path.join(dataDir, 'uploads');
      fs.mkdirSync(dir);
      const expired = '00000000-0000-4000-8000-000000000001';
      const fresh = '00000000-0000-4000-8000-000000000002';
      for (const name of [expired, `${expired}.partial`, fresh]) fs.writeFileSync(path.join(dir, name), 'x');
      const dayAgo = new Date(Date.now() - 25 * 3600_000);
      fs.utimesSync(path.join(dir, expired), dayAgo, dayAgo);
      fs.utimesSync(path.join(dir, `${expired}.partial`), dayAgo, dayAgo);
      const other = await startAppliance({ worker: false, env: { LAMINA_DATA_DIR: dataDir } });
      try {
        await eventually(async () => fs.readdirSync(dir).length === 1);
        expect(fs.readdirSync(dir)).toEqual([fresh]);
      } finally {
        await other.stop();
      }
    });
  });

  describe('response headers', () => {
    it('sets a content security policy, no framing, no sniffing, no referrer, and no caching of API answers', async () => {
      const anonymous = new (app.api.constructor as typeof ApiClient)(app.api.baseUrl);
      const answers = {
        login: await anonymous.post('/api/auth/login', { username: 'administrator', password: 'wrong' }),
        me: await app.api.get('/api/auth/me'),
        tokens: await app.api.post('/api/tokens', { name: 'headers', expiresInDays: 1 }),
        notFound: await app.api.get('/api/nothing-here'),
        health: await anonymous.get('/healthz'),
      };
      expect(answers.tokens.status).toBe(201);
      for (const [what, response] of Object.entries(answers)) {
        const headers = Object.fromEntries(
          ['content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy'].map(
            (h) => [h, response.headers.get(h)],
          ),
        );
        expect({ what, ...headers }).toEqual({
          what,
          'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
          'x-frame-options': 'DENY',
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
        });
        if (what !== 'health')
          expect({ what, cache: response.headers.get('cache-control') }).toEqual({ what, cache: 'no-store' });
      }
    });

    it('lets the docs page use its own stylesheet and nothing else', async () => {
      const docs = await app.api.get('/api/docs');
      expect(docs.status).toBe(200);
      const style = /<style>([\s\S]*)<\/style>/.exec(docs.text)![1];
      const hash = createHash('sha256').update(style).digest('base64');
      expect(docs.headers.get('content-security-policy')).toBe(
        `default-src 'self'; style-src 'sha256-${hash}'; frame-ancestors 'none'`,
      );
      expect(docs.text).not.toMatch(/<script|<link|style="/);
    });
  });
});

const unmount = (dir: string) => execFileSync('umount', [dir]);

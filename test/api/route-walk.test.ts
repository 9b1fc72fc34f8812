import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import path from 'node:path';
import { apiResources } from '../../api/app';
import { createApiToken } from '../../api/auth/api-tokens';
import type { Identity } from '../../api/auth/identity';
import { hasPermission, ROLES, type Permission, type Role } from '../../api/auth/roles';
import { LAYER_TYPES, type LayerType } from '../../domain/layers';
import type { Route } from '../../api/route';
import { PayloadEncryptionCodec } from '../../config/payload-codec';
import { SecretBox } from '../../config/secret-box';
import { run } from '../../lib/processes';
import type { Stack } from '../../runtime/stack';
import {
  createTestDatabase,
  mountedDir,
  startTestStack,
  testConfig,
  testDir,
  type TestDatabase,
} from '../harness';
import { administratorClient, ApiClient } from '../api-client';

/**
 * Walks the whole route table against every role: 401 without credentials, 403 for a role that lacks the
 * route's permission, and for a role that has it: 200 on every read (with ids of real objects), and past
 * authorization on every write (the walk sends empty bodies and unknown ids, so 400/404 are expected there).
 */
describe('every route against every role', () => {
  let db: TestDatabase;
  let stack: Stack;
  let routes: Route[];
  const clients = new Map<Role | 'no role', ApiClient>();
  /** Per resource tag, the real objects reads are asked about. */
  const realIds: Record<string, { id: string; versionId?: string }> = {};
  /** A layer of each type with a version, both in use, so no delete the walk sends goes through. */
  const layersByType = {} as Record<LayerType, { id: string; versionId: string }>;

  beforeAll(async () => {
    db = await createTestDatabase();
    const config = testConfig(db.url);
    stack = await startTestStack(config);
    // Only the table is needed, so the handlers' dependencies can be stand-ins.
    routes = apiResources({
      pool: stack.pool,
      tasks: stack.tasks,
      secrets: new SecretBox([Buffer.alloc(32)]),
      auth: config.auth,
      readiness: [],
      uploadsDir: config.uploads.dir,
      uploadMaxBytes: config.uploads.maxBytes,
      importDirs: config.importDirs,
      ownDirs: [config.dataDir],
      payloadCodec: new PayloadEncryptionCodec([Buffer.alloc(32)]),
      temporalUiOrigins: [],
    }).flatMap((r) => r.routes);

    const admin = await administratorClient(stack);
    const osLayer = (await admin.post('/api/layers', { type: 'os', name: 'Walk OS' })).body.id;
    const version = (await admin.post(`/api/layers/${osLayer}/versions`, { version: '1' })).body.id;
    await stack.pool.query(`UPDATE layer_versions SET state = 'Deployable' WHERE id = $1`, [version]);
    const app = (await admin.post('/api/layers', { type: 'app', name: 'Walk app', osLayerId: osLayer })).body
      .id;
    const appVersion = (await admin.post(`/api/layers/${app}/versions`, { version: '1' })).body.id;
    await stack.pool.query(`UPDATE layer_versions SET state = 'Deployable' WHERE id = $1`, [appVersion]);
    const platform = (
      await admin.post('/api/layers', { type: 'platform', name: 'Walk platform', osLayerId: osLayer })
    ).body.id;
    const platformVersion = (await admin.post(`/api/layers/${platform}/versions`, { version: '1' })).body.id;
    await stack.pool.query(`UPDATE layer_versions SET state = 'Deployable' WHERE id = $1`, [platformVersion]);
    Object.assign(layersByType, {
      os: { id: osLayer, versionId: version },
      app: { id: app, versionId: appVersion },
      platform: { id: platform, versionId: platformVersion },
    });
    const connector = (await admin.get('/api/connectors?type=local')).body.items[0].id;
    const template = await admin.post('/api/templates', {
      name: 'Walk template',
      osVersionId: version,
      platformVersionId: platformVersion,
      connectorId: connector,
      diskSizeGb: 40,
      diskFormat: 'VHDX',
      firmware: 'UEFI',
    });
    const image = randomUUID();
    await stack.pool.query(
      `INSERT INTO published_images (id, name, template_snapshot, layer_versions, output_location)
       VALUES ($1, 'Walk image', '{}', '[]', '/pool/walk.vhdx')`,
      [image],
    );
    const task = (await admin.post('/api/tasks/diagnostics')).body.id;
    await admin.get(`/api/tasks/${task}/wait?timeout=60`);
    Object.assign(realIds, {
      Layers: { id: osLayer, versionId: version },
      Connectors: { id: connector },
      'Image templates': { id: template.body.id },
      'Published images': { id: image },
      'Storage locations': {
        id: (await admin.post('/api/storage-locations', { name: 'Walk', sharePath: '\\\\f\\s', priority: 1 }))
          .body.id,
      },
      'Elastic assignments': {
        id: (
          await admin.post('/api/elastic-assignments', {
            layerVersionId: appVersion,
            machinePatterns: ['WALK-*'],
          })
        ).body.id,
      },
      Tasks: { id: task },
      'Elastic layer shares': {
        id: (
          await admin.post('/api/system-settings/elastic-shares', {
            name: 'Walk share',
            sharePath: '\\\\f\\elastic',
            mountPoint: mountedDir('walk-share'),
          })
        ).body.id,
      },
      'Directory junctions': {
        id: (
          await admin.post('/api/directory-junctions', {
            name: 'Walk AD',
            settings: {
              url: 'ldaps://dc.walk.test',
              bindDn: 'cn=svc,dc=walk,dc=test',
              baseDn: 'dc=walk,dc=test',
              schema: 'ad',
              domain: 'walk.test',
              netbiosName: 'WALK',
            },
            bindPassword: 'walk',
          })
        ).body.id,
      },
    });
    expect(Object.values(realIds).every((ids) => typeof ids.id === 'string')).toBe(true);

    for (const role of [...ROLES, 'no role' as const]) {
      const dn = `cn=${role.replace(/\s/g, '-')},ou=people,dc=walk,dc=test`;
      const identity: Identity = { name: `${role}@walk.test`, kind: 'directory', dn, groups: [] };
      if (role !== 'no role') {
        await stack.pool.query(
          `INSERT INTO role_assignments (id, role, principal_type, principal) VALUES ($1, $2, 'user', $3)`,
          [randomUUID(), role, dn],
        );
      }
      // API tokens rather than sessions: the walk also calls logout, which must not end the walk.
      const { token } = await createApiToken(stack.pool, identity, 'walk', 1);
      clients.set(role, new ApiClient(stack.apiUrl!, { authorization: `Bearer ${token}` }));
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  /** Reads name real objects (and never wait); writes name unknown ones, so the walk changes nothing. */
  const pathOf = (route: Route) => {
    const real = route.method === 'get' ? realIds[route.tag] : undefined;
    const path = route.fullPath
      .replace(':versionId', real?.versionId ?? randomUUID())
      .replace(':id', real?.id ?? randomUUID());
    return route.operationId === 'waitForTask' ? `${path}?timeout=0` : path;
  };
  const call = (client: ApiClient, route: Route) =>
    client.request(route.method.toUpperCase(), pathOf(route), route.method === 'get' ? undefined : {});

  it('has a route table where every route declares its access', () => {
    expect(routes.length).toBeGreaterThan(50);
    const keys = routes.map((r) => `${r.method} ${r.fullPath}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const route of routes) expect(route.access).toEqual(expect.any(String));
  });

  it('answers 401 to a caller without credentials on every non-public route', async () => {
    const anonymous = new ApiClient(stack.apiUrl!);
    const outcomes: string[] = [];
    for (const route of routes) {
      const { status } = await call(anonymous, route);
      outcomes.push(`${route.operationId}: ${status === 401 ? 401 : 'through'}`);
    }
    expect(outcomes).toEqual(
      routes.map((r) => `${r.operationId}: ${r.access === 'public' ? 'through' : 401}`),
    );
  });

  it('answers 403 without the permission and lets the request through with it (reads as documented), for every role', async () => {
    const outcomes: string[] = [];
    const expected: string[] = [];
    /** Answers that do not match the route's declared response schema (what OpenAPI promises). */
    const mismatches: string[] = [];
    for (const [role, client] of clients) {
      const roles = role === 'no role' ? [] : [role];
      for (const route of routes) {
        const response = await call(client, route);
        const allowed =
          route.access === 'public' || route.access === 'signed-in' || hasPermission(roles, route.access);
        // Resolving a logon needs a directory (and a synced share): the walk only checks it is let through.
        const resolves = ['resolveElasticLayers', 'resolveUserLayer'].includes(route.operationId);
        const isRead = route.method === 'get' && allowed && !resolves;
        const outcome =
          response.status === 403 ? 'denied' : response.status === 401 ? 'unauthenticated' : 'through';
        outcomes.push(`${role} ${route.operationId}: ${outcome}${isRead ? ` ${response.status}` : ''}`);
        expected.push(
          `${role} ${route.operationId}: ${allowed ? 'through' : 'denied'}${isRead ? ' 200' : ''}`,
        );
        if (isRead && route.response) {
          const parsed = route.response.safeParse(response.body);
          if (!parsed.success) mismatches.push(`${route.operationId}: ${z.prettifyError(parsed.error)}`);
        }
      }
    }
    expect(outcomes).toEqual(expected);
    expect(mismatches).toEqual([]);
  });

  it('lets only Image Porter and Administrator start Image Portability tasks: a Reader gets 403 on every IPS route', async () => {
    const ipsRoutes = routes.filter((r) => r.fullPath.startsWith('/api/ips/'));
    expect(ipsRoutes.map((r) => r.operationId).sort()).toEqual([
      'startIpsExport',
      'startIpsPrepare',
      'startIpsPublish',
      'startIpsRun',
      'startIpsUpload',
    ]);
    const outcomes: string[] = [];
    for (const role of ['Reader', 'Image Publisher', 'Image Porter', 'Administrator'] as const) {
      for (const route of ipsRoutes) {
        const { status } = await call(clients.get(role)!, route);
        outcomes.push(`${role} ${route.operationId}: ${status === 403 ? 403 : 'through'}`);
      }
    }
    const allowed = (role: string) => role === 'Image Porter' || role === 'Administrator';
    expect(outcomes).toEqual(
      ['Reader', 'Image Publisher', 'Image Porter', 'Administrator'].flatMap((role) =>
        ipsRoutes.map((r) => `${role} ${r.operationId}: ${allowed(role) ? 'through' : 403}`),
      ),
    );
  });

  it('checks the permission of the layer type on every layer route, for every layer type and role', async () => {
    const layerRoutes = routes.filter((r) => r.fullPath.startsWith('/api/layers'));
    expect(layerRoutes.map((r) => r.operationId)).toEqual(
      expect.arrayContaining([
        'createLayer',
        'buildLayerVersion',
        'packageLayerVersion',
        'deleteLayerVersion',
      ]),
    );
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const [role, client] of clients) {
      const roles = role === 'no role' ? [] : [role];
      for (const type of LAYER_TYPES) {
        const layer = layersByType[type];
        for (const route of layerRoutes) {
          // Changing a layer, or making a version of it, takes the route's permission and the layer type's.
          const needed: Permission[] =
            route.method === 'get' ? ['read'] : [route.access as Permission, `layers.${type}.write`];
          const missing = needed.find((permission) => !hasPermission(roles, permission));
          // Bodies that get past authorization but change nothing: a create naming objects that do not
          // exist, empty edits, deletes of a layer or version in use.
          const body =
            route.operationId === 'createLayer'
              ? {
                  type,
                  name: `Walk ${type}`,
                  connectorId: randomUUID(),
                  ...(type === 'os' ? {} : { osLayerId: randomUUID() }),
                }
              : route.method === 'get' || route.method === 'delete'
                ? undefined
                : {};
          const response = await client.request(
            route.method.toUpperCase(),
            route.fullPath.replace(':versionId', layer.versionId).replace(':id', layer.id),
            body,
          );
          const what = `${role} ${type} ${route.operationId}`;
          outcomes.push(
            `${what}: ${response.status === 403 ? `denied, needs ${/'([a-z.]+)' permission/.exec(response.body.detail)?.[1]}` : response.status === 401 ? 'unauthenticated' : 'through'}`,
          );
          expected.push(`${what}: ${missing ? `denied, needs ${missing}` : 'through'}`);
        }
      }
    }
    expect(outcomes).toEqual(expected);
    // Nothing the walk sent went through as a change.
    const { rows } = await stack.pool.query(
      `SELECT count(*)::int AS layers, (SELECT count(*)::int FROM layer_versions WHERE state <> 'Deleted') AS versions FROM layers`,
    );
    expect(rows[0]).toEqual({ layers: 3, versions: 3 });
  });

  it('documents each route with its access in a valid OpenAPI 3.1 document', async () => {
    const doc = (await new ApiClient(stack.apiUrl!).get('/api/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    // The validator is an ES module jest cannot load; its CLI checks the document against the 3.1 schema.
    const file = path.join(testDir('openapi'), 'openapi.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    const validator = require.resolve('@seriousme/openapi-schema-validator/bin/validate-api-cli.js');
    expect(JSON.parse(await run(process.execPath, [validator, file]))).toEqual({ valid: true });
    for (const route of routes) {
      const operation = doc.paths[route.fullPath.replace(/:([A-Za-z]+)/g, '{$1}')][route.method];
      expect(operation).toMatchObject({ operationId: route.operationId, 'x-lamina-access': route.access });
    }
    const docs = await new ApiClient(stack.apiUrl!).get('/api/docs');
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
    expect(docs.text).toContain('createTemplate');
  });
});

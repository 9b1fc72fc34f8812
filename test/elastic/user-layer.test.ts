import path from 'node:path';
import { projectRoot } from '../../lib/project-root';
import { run, startAppliance, type Appliance } from '../workflows/fixtures';
import { joinDirectory, SIDS, startAdDirectory, type AdDirectory } from './ad-directory';

describe('where a user layer lives: storage locations by group and priority, through a real directory', () => {
  let directory: AdDirectory;
  let app: Appliance;
  let osLayer: string;
  const locations: Record<string, string> = {};

  const resolve = (user: string, os = 'Windows 11') =>
    app.api.get(`/api/storage-locations/resolve?${new URLSearchParams({ user, osLayer: os })}`);

  beforeAll(async () => {
    directory = await startAdDirectory();
    app = await startAppliance({ worker: false });
    await joinDirectory(app.api, directory);
    osLayer = (await app.api.post('/api/layers', { type: 'os', name: 'Windows 11' })).body.id;
    for (const [name, sharePath, adGroups, priority] of [
      ['Everyone', '\\\\files\\users', [], 100],
      ['Finance', '\\\\fin\\users', ['cn=finance,ou=groups,dc=example,dc=com'], 20],
      ['IT', '\\\\it\\users\\', ['EXAMPLE\\it-staff'], 10],
    ] as const) {
      const created = await app.api.post('/api/storage-locations', { name, sharePath, adGroups, priority });
      expect(created.status).toBe(201);
      locations[name] = created.body.id;
    }
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
    await directory?.stop();
  });

  it('gives each user the location of their highest-priority group, nested groups included', async () => {
    const alice = await resolve('EXAMPLE\\alice');
    expect(alice.status).toBe(200);
    expect(alice.body).toEqual({
      user: { name: 'EXAMPLE\\alice', sid: SIDS.alice },
      osLayer: { id: osLayer, name: 'Windows 11' },
      location: { id: locations.IT, name: 'IT', sharePath: '\\\\it\\users\\', priority: 10 },
      path: `\\\\it\\users\\Users\\EXAMPLE_alice\\${osLayer}_Windows 11`,
      defaultSizeGb: 10,
    });
    const bob = await resolve('bob@example.com', osLayer);
    expect(bob.body.path).toBe(`\\\\fin\\users\\Users\\EXAMPLE_bob\\${osLayer}_Windows 11`);
    // Without the IT location alice falls to the one for everyone.
    expect((await app.api.delete(`/api/storage-locations/${locations.IT}`)).status).toBe(204);
    expect((await resolve('EXAMPLE\\alice')).body.path).toBe(
      `\\\\files\\users\\Users\\EXAMPLE_alice\\${osLayer}_Windows 11`,
    );
  });

  it("keeps the SIDs the directory gave each location's groups, and refuses groups it does not know", async () => {
    const finance = await app.api.get(`/api/storage-locations/${locations.Finance}`);
    expect(finance.body.principals).toEqual([
      {
        name: 'EXAMPLE\\finance',
        kind: 'group',
        sid: SIDS.finance,
        dn: 'cn=finance,ou=groups,dc=example,dc=com',
      },
    ]);
    const before = (await app.api.get('/api/storage-locations')).body.items;
    for (const [group, message] of [
      ['EXAMPLE\\nobody', "the directory 'Example AD' has no group 'EXAMPLE\\nobody'"],
      [
        'cn=nobody,ou=groups,dc=example,dc=com',
        "the directory 'Example AD' has no group 'cn=nobody,ou=groups,dc=example,dc=com'",
      ],
      [
        'cn=alice,ou=people,dc=example,dc=com',
        "the directory 'Example AD' has no group 'cn=alice,ou=people,dc=example,dc=com'",
      ],
      ['cn=x,dc=other,dc=org', "no directory junction holds the DN 'cn=x,dc=other,dc=org'"],
      ['OTHER\\finance', "no directory junction serves the domain 'OTHER'"],
    ]) {
      const refused = await app.api.post('/api/storage-locations', {
        name: 'Refused',
        sharePath: '\\\\x\\users',
        adGroups: [group],
        priority: 50,
      });
      expect(refused.status).toBe(422);
      expect(refused.body.errors).toEqual([{ field: 'body.adGroups', message }]);
    }
    // An edit naming a group that is gone is refused too, and the stored location is kept as it was.
    const edit = await app.api.patch(`/api/storage-locations/${locations.Finance}`, {
      adGroups: ['EXAMPLE\\finance', 'EXAMPLE\\payroll'],
    });
    expect(edit.status).toBe(422);
    expect((await app.api.get('/api/storage-locations')).body.items).toEqual(before);
  });

  it('names what is missing: an OS layer, a user, a domain', async () => {
    const noOs = await resolve('EXAMPLE\\alice', 'Windows 3.1');
    expect(noOs.status).toBe(404);
    const noUser = await resolve('EXAMPLE\\mallory');
    expect(noUser.status).toBe(422);
    expect(noUser.body.errors).toEqual([
      { field: 'query.user', message: "the directory 'Example AD' has no user 'EXAMPLE\\mallory'" },
    ]);
    expect((await resolve('OTHER\\alice')).body.errors[0].message).toBe(
      "no directory junction serves the domain 'OTHER'",
    );
  });

  it('prints the path with `lamina user-layer resolve`', async () => {
    const token = await app.api.post('/api/tokens', { name: 'cli' });
    const { stdout } = await run(
      process.execPath,
      [
        path.join(projectRoot(), 'bin', 'lamina'),
        'user-layer',
        'resolve',
        '--user',
        'EXAMPLE\\bob',
        '--os-layer',
        'windows 11',
      ],
      { env: { ...process.env, LAMINA_API_URL: app.stack.apiUrl!, LAMINA_API_TOKEN: token.body.token } },
    );
    expect(stdout.split('\n')).toEqual([
      `\\\\fin\\users\\Users\\EXAMPLE_bob\\${osLayer}_Windows 11`,
      `  EXAMPLE\\bob (${SIDS.bob}): storage location 'Finance' (priority 20), up to 10 GB unless the share's quota says otherwise`,
      '',
    ]);
  }, 60_000);
});

import { Attribute, Change, Client } from 'ldapts';
import { mayGrant } from '../../api/auth/roles';
import { startSlapd, type Slapd } from '../../runtime/slapd';
import type { LaminaConfig } from '../../config/env';
import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, testDir, type TestDatabase } from '../harness';
import { administratorClient, ApiClient } from '../api-client';

const SUFFIX = 'dc=rights,dc=test';
const ROOT_PASSWORD = 'slapd-root-password';
const SERVICE_PASSWORD = 'Service-Bind-Secret-13';
const people = `ou=people,${SUFFIX}`;
const groups = `ou=groups,${SUFFIX}`;
const admins = `cn=lamina-admins,${groups}`;
const RECHECK_MS = 1000;

/**
 * AD's userAccountControl on an auxiliary class, so OpenLDAP entries can carry the ACCOUNTDISABLE flag
 * (the class lives in OpenLDAP's experimental OID arc; the attribute keeps AD's OID).
 */
const AD_ACCOUNT_CONTROL = `
dn: cn=adaccountcontrol,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: adaccountcontrol
olcAttributeTypes: ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.4203.666.11.13.1 NAME 'adAccountControl' AUXILIARY MAY userAccountControl )`;

const userDn = (uid: string) => `cn=${uid},${people}`;

/** Changes the directory as its administrator would, over a real LDAP connection. */
async function asDirectoryRoot<T>(slapd: Slapd, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: slapd.url });
  await client.bind(slapd.rootDn, ROOT_PASSWORD);
  try {
    return await work(client);
  } finally {
    await client.unbind();
  }
}

/** Long enough for every stored identity to be older than the re-check interval. */
const pastRecheck = () => new Promise((resolve) => setTimeout(resolve, RECHECK_MS + 200));

describe('directory rights taken away are taken away from tokens and sessions too', () => {
  let slapd: Slapd;
  let db: TestDatabase;
  let config: LaminaConfig;
  let stack: Stack;
  let admin: ApiClient;

  /** A session and an API token made by `uid`, both while they held Administrator. */
  async function sessionAndToken(uid: string): Promise<ApiClient[]> {
    const [session, login] = await ApiClient.signIn(stack.apiUrl!, uid, `${uid}-pw`);
    expect(login.body.roles).toContain('Administrator');
    const made = await session.post('/api/tokens', { name: `${uid}'s script` });
    expect(made.status).toBe(201);
    const token = new ApiClient(stack.apiUrl!, { authorization: `Bearer ${made.body.token}` });
    for (const client of [session, token]) expect((await client.get('/api/audit')).status).toBe(200);
    return [session, token];
  }

  beforeAll(async () => {
    slapd = await startSlapd({
      dir: testDir('slapd'),
      suffix: SUFFIX,
      rootPassword: ROOT_PASSWORD,
      schemaLdif: [AD_ACCOUNT_CONTROL],
    });
    await asDirectoryRoot(slapd, async (client) => {
      const person = (uid: string) => ({
        objectClass: ['inetOrgPerson', 'adAccountControl'],
        cn: uid,
        sn: uid,
        uid,
        userPassword: `${uid}-pw`,
        userAccountControl: '512', // NORMAL_ACCOUNT
      });
      await client.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'rights', o: 'Rights' });
      await client.add(people, { objectClass: ['organizationalUnit'], ou: 'people' });
      await client.add(groups, { objectClass: ['organizationalUnit'], ou: 'groups' });
      await client.add(userDn('lamina-svc'), { ...person('lamina-svc'), userPassword: SERVICE_PASSWORD });
      for (const uid of ['dave', 'erin', 'frank', 'gina']) await client.add(userDn(uid), person(uid));
      await client.add(admins, {
        objectClass: ['groupOfNames'],
        cn: 'lamina-admins',
        member: ['dave', 'erin', 'frank', 'gina'].map(userDn),
      });
      await client.add(`cn=publishers,${groups}`, {
        objectClass: ['groupOfNames'],
        cn: 'publishers',
        member: [userDn('dave')],
      });
    });

    db = await createTestDatabase();
    config = testConfig(db.url, { LAMINA_DIRECTORY_RECHECK_SECONDS: String(RECHECK_MS / 1000) });
    stack = await startTestStack(config, { worker: false });
    admin = await administratorClient(stack);
    const junction = await admin.post('/api/directory-junctions', {
      name: 'Rights Directory',
      settings: {
        url: slapd.url,
        bindDn: userDn('lamina-svc'),
        baseDn: SUFFIX,
        schema: 'ldap',
        domain: 'rights.test',
        netbiosName: 'RIGHTS',
      },
      bindPassword: SERVICE_PASSWORD,
    });
    expect(junction.status).toBe(201);
    for (const [role, principal] of [
      ['Administrator', admins],
      ['Image Publisher', `cn=publishers,${groups}`],
    ]) {
      const granted = await admin.post('/api/role-assignments', { role, principalType: 'group', principal });
      expect(granted.status).toBe(201);
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    await slapd?.stop();
  });

  it('drops Administrator from a token and a session once the user leaves the group, so they cannot grant it back', async () => {
    const [session, token] = await sessionAndToken('dave');
    await asDirectoryRoot(slapd, (client) =>
      client.modify(
        admins,
        new Change({
          operation: 'delete',
          modification: new Attribute({ type: 'member', values: [userDn('dave')] }),
        }),
      ),
    );
    await pastRecheck();

    for (const client of [session, token]) {
      const audit = await client.get('/api/audit');
      expect(audit.status).toBe(403);
      expect(audit.body.detail).toMatch(
        /'audit.read' permission, which none of your roles \(Image Publisher\)/,
      );
      const me = await client.get('/api/auth/me');
      expect(me.body).toMatchObject({ name: 'dave@rights.test', roles: ['Image Publisher'] });
      expect(me.body.groups).not.toContain(admins);
    }
    const selfGrant = await token.post('/api/role-assignments', {
      role: 'Administrator',
      principalType: 'user',
      principal: userDn('dave'),
    });
    expect(selfGrant.status).toBe(403);
    const { rows } = await stack.pool.query(`SELECT 1 FROM role_assignments WHERE principal_type = 'user'`);
    expect(rows).toHaveLength(0);
  });

  it('lets nobody grant or revoke a role they do not hold; an Administrator may grant any', () => {
    expect(mayGrant(['Image Publisher'], 'Administrator')).toBe(false);
    expect(mayGrant(['Image Publisher', 'Reader'], 'Layer Exporter')).toBe(false);
    expect(mayGrant(['Image Publisher'], 'Image Publisher')).toBe(true);
    expect(mayGrant(['Administrator'], 'Layer Exporter')).toBe(true);
  });

  it('refuses the token and session of a user deleted from the directory', async () => {
    const clients = await sessionAndToken('erin');
    await asDirectoryRoot(slapd, (client) => client.del(userDn('erin')));
    await pastRecheck();
    for (const client of clients) {
      const me = await client.get('/api/auth/me');
      expect(me.status).toBe(401);
      expect(me.body.title).toBe('Sign-in required');
    }
  });

  it('refuses the token and session of a user the directory has disabled (ACCOUNTDISABLE)', async () => {
    const clients = await sessionAndToken('frank');
    await asDirectoryRoot(slapd, (client) =>
      client.modify(
        userDn('frank'),
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'userAccountControl', values: ['514'] }),
        }),
      ),
    );
    await pastRecheck();
    for (const client of clients) expect((await client.get('/api/layers')).status).toBe(401);
    expect((await ApiClient.signIn(stack.apiUrl!, 'frank', 'frank-pw'))[1].status).toBe(401);
  });

  it('makes API tokens for 30 days unless asked, at most 90, and says so beyond', async () => {
    const made = await admin.post('/api/tokens', { name: 'default lifetime' });
    const days = (Date.parse(made.body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    expect((await admin.post('/api/tokens', { name: 'quarter', expiresInDays: 90 })).status).toBe(201);
    const tooLong = await admin.post('/api/tokens', { name: 'a year', expiresInDays: 365 });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.errors).toEqual([{ field: 'body.expiresInDays', message: 'must be at most 90' }]);
  });

  it("confirms a granter's roles with the directory at once, even while their groups are still trusted", async () => {
    // A second API on the same database with the default interval (5 minutes) and the same master key.
    const patient = await startTestStack(
      testConfig(db.url, { LAMINA_MASTER_KEY_FILE: config.masterKey.file }),
      { worker: false },
    );
    try {
      const [session, login] = await ApiClient.signIn(patient.apiUrl!, 'gina', 'gina-pw');
      expect(login.body.roles).toContain('Administrator');
      await asDirectoryRoot(slapd, (client) =>
        client.modify(
          admins,
          new Change({
            operation: 'delete',
            modification: new Attribute({ type: 'member', values: [userDn('gina')] }),
          }),
        ),
      );
      // Within the interval the stored groups still count (the documented window)…
      expect((await session.get('/api/audit')).status).toBe(200);
      // …but a grant, which would outlast it, asks the directory first.
      const selfGrant = await session.post('/api/role-assignments', {
        role: 'Administrator',
        principalType: 'user',
        principal: userDn('gina'),
      });
      expect(selfGrant.status).toBe(403);
      expect(selfGrant.body.detail).toMatch(/the role 'Administrator' needs that role/);
    } finally {
      await patient.stop();
    }
  });

  // Last: it stops the directory.
  it('answers 503 naming the junction, not stale rights, when the directory cannot be asked', async () => {
    const [session] = await ApiClient.signIn(stack.apiUrl!, 'dave', 'dave-pw');
    await slapd.stop();
    await pastRecheck();
    const refused = await session.get('/api/layers');
    expect(refused.status).toBe(503);
    expect(refused.body.detail).toMatch(/directory junction 'Rights Directory'/);
    // The built-in administrator does not depend on the directory.
    expect((await admin.get('/api/layers')).status).toBe(200);
  });
});

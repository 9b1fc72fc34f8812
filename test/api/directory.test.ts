import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'ldapts';
import { inChainFilter } from '../../api/auth/directory';
import { run } from '../../lib/processes';
import { startSlapd, type Slapd } from '../../runtime/slapd';
import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, testDir, type TestDatabase } from '../harness';
import { administratorClient, ApiClient } from '../api-client';

const SUFFIX = 'dc=example,dc=com';
const ROOT_PASSWORD = 'slapd-root-password';
const SERVICE_PASSWORD = 'Service-Bind-Secret-42';
const people = `ou=people,${SUFFIX}`;
const groups = `ou=groups,${SUFFIX}`;

/** A throw-away CA and a server certificate for 127.0.0.1, made with openssl. */
async function makeTestCa(dir: string) {
  const file = (name: string) => path.join(dir, name);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=Lamina Test CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  ]);
  fs.writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    file('san.ext'),
    '-out',
    file('server.crt'),
  ]);
  return { certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt') };
}

/** Users and nested groups, added over LDAP as the directory's root. */
async function populate(url: string, rootDn: string) {
  const client = new Client({ url });
  await client.bind(rootDn, ROOT_PASSWORD);
  const person = (uid: string, password: string) => ({
    objectClass: ['inetOrgPerson'],
    cn: uid,
    sn: uid,
    uid,
    userPassword: password,
  });
  const group = (cn: string, members: string[]) => ({ objectClass: ['groupOfNames'], cn, member: members });
  await client.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });
  await client.add(people, { objectClass: ['organizationalUnit'], ou: 'people' });
  await client.add(groups, { objectClass: ['organizationalUnit'], ou: 'groups' });
  await client.add(`cn=lamina-svc,${people}`, person('lamina-svc', SERVICE_PASSWORD));
  await client.add(`cn=alice,${people}`, person('alice', 'alice-pw'));
  await client.add(`cn=bob,${people}`, person('bob', 'bob-pw'));
  await client.add(`cn=carol,${people}`, person('carol', 'carol-pw'));
  // A legitimate name full of filter syntax: escaping must let it in, not just keep attackers out.
  await client.add(`cn=o-brien,${people}`, { ...person('o(brien)*', 'obrien-pw'), cn: 'o-brien' });
  await client.add(`cn=helpdesk,${groups}`, group('helpdesk', [`cn=alice,${people}`]));
  await client.add(`cn=it-staff,${groups}`, group('it-staff', [`cn=helpdesk,${groups}`]));
  await client.add(`cn=readers,${groups}`, group('readers', [`cn=bob,${people}`, `cn=o-brien,${people}`]));
  await client.unbind();
}

describe('directory sign-in against a real OpenLDAP (StartTLS and LDAPS with a test CA)', () => {
  let slapd: Slapd;
  let db: TestDatabase;
  let stack: Stack;
  let admin: ApiClient;
  let ca: string;
  const signIn = (username: string, password: string) => ApiClient.signIn(stack.apiUrl!, username, password);

  beforeAll(async () => {
    const dir = testDir('slapd');
    const tls = await makeTestCa(dir);
    ca = fs.readFileSync(tls.caFile, 'utf8');
    slapd = await startSlapd({ dir, suffix: SUFFIX, rootPassword: ROOT_PASSWORD, tls });
    await populate(slapd.url, slapd.rootDn);

    db = await createTestDatabase();
    stack = await startTestStack(
      testConfig(db.url, { LAMINA_LOGIN_MAX_FAILURES: '3', LAMINA_LOGIN_LOCKOUT_SECONDS: '60' }),
      { worker: false },
    );
    admin = await administratorClient(stack);
    const settings = {
      bindDn: `cn=lamina-svc,${people}`,
      baseDn: SUFFIX,
      schema: 'ldap',
      caCertificate: ca,
    };
    const startTls = await admin.post('/api/directory-junctions', {
      name: 'Example (StartTLS)',
      settings: {
        ...settings,
        url: slapd.url,
        startTls: true,
        domain: 'example.com',
        netbiosName: 'EXAMPLE',
      },
      bindPassword: SERVICE_PASSWORD,
    });
    expect(startTls.status).toBe(201);
    const ldaps = await admin.post('/api/directory-junctions', {
      name: 'Secure (LDAPS)',
      priority: 200,
      settings: { ...settings, url: slapd.ldapsUrl, domain: 'secure.test', netbiosName: 'SECURE' },
      bindPassword: SERVICE_PASSWORD,
    });
    expect(ldaps.status).toBe(201);
    for (const [role, principalType, principal] of [
      ['Image Template Contributor', 'group', `cn=it-staff,${groups}`],
      ['Reader', 'group', `CN=Readers,OU=Groups,DC=Example,DC=Com`], // DNs compare case-insensitively
    ]) {
      expect((await admin.post('/api/role-assignments', { role, principalType, principal })).status).toBe(
        201,
      );
    }
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    await slapd?.stop();
  });

  it('signs a user in as user@domain, DOMAIN\\user and short name, with roles from nested groups', async () => {
    for (const login of ['alice@example.com', 'EXAMPLE\\alice', 'alice', 'ALICE@EXAMPLE.COM']) {
      const [api, response] = await signIn(login, 'alice-pw');
      expect({ login, status: response.status }).toEqual({ login, status: 200 });
      expect(response.body).toEqual({
        name: 'alice@example.com',
        kind: 'directory',
        roles: ['Image Template Contributor'],
      });
      const me = (await api.get('/api/auth/me')).body;
      expect(me.groups).toEqual(expect.arrayContaining([`cn=helpdesk,${groups}`, `cn=it-staff,${groups}`]));
    }
  });

  it('signs in over LDAPS verified with the test CA', async () => {
    const [, response] = await signIn('SECURE\\alice', 'alice-pw');
    expect(response.status).toBe(200);
    expect(response.body.name).toBe('alice@secure.test');
  });

  it('maps groups to roles and enforces them', async () => {
    const [bob, response] = await signIn('bob', 'bob-pw');
    expect(response.body.roles).toEqual(['Reader']);
    expect((await bob.get('/api/templates')).status).toBe(200);
    const denied = await bob.post('/api/templates', {});
    expect(denied.status).toBe(403);
    expect(denied.body.detail).toMatch(
      /'templates.write' permission, which none of your roles \(Reader\) grants/,
    );
  });

  it('refuses wrong and empty passwords', async () => {
    expect((await signIn('bob@example.com', 'wrong'))[1].status).toBe(401);
    const empty = (await signIn('bob@example.com', ''))[1];
    expect(empty.status).toBe(400);
    expect(empty.body.errors).toEqual([expect.objectContaining({ field: 'body.password' })]);
    expect((await signIn('nobody@example.com', 'x'))[1].status).toBe(401);
    expect((await signIn('alice@unknown.example', 'alice-pw'))[1].status).toBe(401);
  });

  it('escapes filter syntax in user names (RFC 4515): injections fail, a name with ( ) * works', async () => {
    for (const attack of ['*', 'al*', 'alice)(uid=*', '*)(|(uid=*', 'alice\\2a', 'x)(objectClass=*']) {
      expect({ attack, status: (await signIn(attack, 'alice-pw'))[1].status }).toEqual({
        attack,
        status: 401,
      });
    }
    const [, legit] = await signIn('o(brien)*@example.com', 'obrien-pw');
    expect(legit.status).toBe(200);
    expect(legit.body).toMatchObject({ name: 'o(brien)*@example.com', roles: ['Reader'] });
  });

  it('locks a directory user after repeated failures, whichever spelling is used', async () => {
    for (const login of ['carol@example.com', 'EXAMPLE\\carol', 'carol']) await signIn(login, 'bad');
    const [, locked] = await signIn('carol@example.com', 'carol-pw');
    expect(locked.status).toBe(429);
  });

  it('reports an unreachable or untrusted directory as 503, not as a wrong password', async () => {
    await admin.post('/api/directory-junctions', {
      name: 'Untrusted',
      settings: {
        url: slapd.ldapsUrl,
        bindDn: `cn=lamina-svc,${people}`,
        baseDn: SUFFIX,
        schema: 'ldap',
        domain: 'untrusted.test',
        netbiosName: 'UNTRUSTED',
      },
      bindPassword: SERVICE_PASSWORD,
    });
    const [, response] = await signIn('alice@untrusted.test', 'alice-pw');
    expect(response.status).toBe(503);
    expect(response.body.detail).toMatch(/Untrusted/);
  });

  it('takes a revoked role away at once', async () => {
    const [bob] = await signIn('bob', 'bob-pw');
    expect((await bob.get('/api/layers')).status).toBe(200);
    const { body } = await admin.get('/api/role-assignments?role=Reader');
    expect((await admin.delete(`/api/role-assignments/${body.items[0].id}`)).status).toBe(204);
    expect((await bob.get('/api/layers')).status).toBe(403);
  });

  it("tests a junction's connection, naming the setting that fails", async () => {
    const { body } = await admin.get('/api/directory-junctions');
    const idOf = (name: string) => body.items.find((j: { name: string }) => j.name === name).id;
    const good = await admin.post(`/api/directory-junctions/${idOf('Example (StartTLS)')}/test`);
    expect(good.body).toMatchObject({
      ok: true,
      checks: [
        { field: 'caCertificate', ok: true },
        { field: 'bindPassword', ok: true },
        { field: 'baseDn', ok: true },
      ],
    });
    const untrusted = await admin.post(`/api/directory-junctions/${idOf('Untrusted')}/test`);
    expect(untrusted.body).toMatchObject({ ok: false, checks: [{ field: 'caCertificate', ok: false }] });
    await admin.patch(`/api/directory-junctions/${idOf('Secure (LDAPS)')}`, { bindPassword: 'wrong' });
    const wrongPassword = await admin.post(`/api/directory-junctions/${idOf('Secure (LDAPS)')}/test`);
    expect(wrongPassword.body.checks).toEqual([
      expect.objectContaining({ field: 'caCertificate', ok: true }),
      expect.objectContaining({ field: 'bindPassword', ok: false }),
    ]);
  });

  it("escapes the DN in Active Directory's nested-group (in-chain) filter", () => {
    expect(inChainFilter('CN=Smith\\, John (IT)*,OU=Users,DC=example,DC=com')).toBe(
      '(member:1.2.840.113556.1.4.1941:=CN=Smith\\5c, John \\28IT\\29\\2a,OU=Users,DC=example,DC=com)',
    );
  });

  it('never returns the bind password', async () => {
    const list = await admin.get('/api/directory-junctions');
    expect(list.body.items[0]).toMatchObject({ name: 'Example (StartTLS)', bindPasswordSet: true });
    expect(list.text).not.toContain(SERVICE_PASSWORD);
    const { rows } = await stack.pool.query('SELECT bind_password::text AS p FROM directory_junctions');
    expect(JSON.stringify(rows)).not.toContain(SERVICE_PASSWORD);
  });

  it('validates junction settings field by field', async () => {
    const response = await admin.post('/api/directory-junctions', {
      name: 'Bad',
      settings: {
        url: 'http://dc1',
        startTls: true,
        bindDn: '',
        baseDn: SUFFIX,
        schema: 'novell',
        domain: 'nodots',
        netbiosName: 'WAY-TOO-LONG-NETBIOS',
        loginAttribute: 'uid)(x',
      },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'body.bindPassword',
      'body.settings.bindDn',
      'body.settings.domain',
      'body.settings.loginAttribute',
      'body.settings.netbiosName',
      'body.settings.schema',
      'body.settings.url',
    ]);
  });
});

import { Pool } from 'pg';
import { ensureAdministrator, verifyLocalUser } from '../../api/auth/administrator';
import { migrate } from '../../db/migrate';
import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, type TestDatabase } from '../harness';
import { ApiClient } from '../api-client';

const PASSWORD = 'correct horse battery';

describe('built-in administrator, sessions, API tokens and lockout', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startTestStack(
      testConfig(db.url, {
        LAMINA_ADMIN_PASSWORD: PASSWORD,
        LAMINA_LOGIN_MAX_FAILURES: '3',
        LAMINA_LOGIN_LOCKOUT_SECONDS: '2',
      }),
      { worker: false },
    );
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('signs the administrator in with an HttpOnly, SameSite=Strict session cookie, and out again', async () => {
    const [api, login] = await ApiClient.signIn(stack.apiUrl!, 'Administrator', PASSWORD);
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ name: 'administrator', kind: 'local', roles: ['Administrator'] });
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^lamina_session=lms_[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);

    const me = await api.get('/api/auth/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ name: 'administrator', roles: ['Administrator'], via: 'session' });
    expect(me.body.permissions).toContain('roles.write');

    expect((await api.post('/api/auth/logout')).status).toBe(204);
    expect((await api.get('/api/auth/me')).status).toBe(401);
  });

  it('ignores the session cookie on a write sent from another site', async () => {
    const [api] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    const sameSite = new ApiClient(stack.apiUrl!, { ...api.headers, origin: stack.apiUrl! });
    const crossSite = new ApiClient(stack.apiUrl!, { ...api.headers, origin: 'https://evil.example' });
    expect((await sameSite.post('/api/tokens', { name: 'ok' })).status).toBe(201);
    expect((await crossSite.post('/api/tokens', { name: 'csrf' })).status).toBe(401);
    expect((await crossSite.get('/api/auth/me')).status).toBe(200);
  });

  it('stores the administrator password as a scrypt hash only', async () => {
    const { rows } = await stack.pool.query('SELECT password_hash FROM local_users');
    expect(rows).toHaveLength(1);
    expect(rows[0].password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(rows[0].password_hash).not.toContain(PASSWORD);
  });

  it('refuses a wrong password with one message for unknown users and bad passwords', async () => {
    const [, wrong] = await ApiClient.signIn(stack.apiUrl!, 'administrator', 'not it');
    const [, unknown] = await ApiClient.signIn(stack.apiUrl!, 'nobody', 'not it');
    for (const response of [wrong, unknown]) {
      expect(response.status).toBe(401);
      expect(response.headers.get('set-cookie')).toBeNull();
      expect(response.body).toMatchObject({
        title: 'Sign-in failed',
        detail: 'The user name or password is wrong.',
      });
    }
  });

  it('locks a login name after repeated failures, even for the right password, then lets it in again', async () => {
    for (let i = 0; i < 3; i++) await ApiClient.signIn(stack.apiUrl!, 'administrator', `guess ${i}`);
    const [, locked] = await ApiClient.signIn(stack.apiUrl!, 'ADMINISTRATOR', PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(locked.body.title).toBe('Sign-in locked');
    await new Promise((r) => setTimeout(r, 2100));
    const [, open] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    expect(open.status).toBe(200);
  });

  it('validates the sign-in body, naming each field', async () => {
    const response = await new ApiClient(stack.apiUrl!).post('/api/auth/login', { username: 'a\u0000b' });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'body.password',
      'body.username',
    ]);
  });

  it('issues API tokens that act as their maker, expire and can be revoked; only hashes are stored', async () => {
    const [session] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    const created = await session.post('/api/tokens', { name: 'nightly script', expiresInDays: 7 });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^lmt_/);
    const script = new ApiClient(stack.apiUrl!, { authorization: `Bearer ${created.body.token}` });
    expect((await script.get('/api/auth/me')).body).toMatchObject({ name: 'administrator', via: 'token' });

    const listed = await session.get('/api/tokens');
    expect(listed.body.items.find((t: { id: string }) => t.id === created.body.id)).toMatchObject({
      name: 'nightly script',
      revokedAt: null,
    });
    expect(listed.text).not.toContain(created.body.token);
    const { rows } = await stack.pool.query("SELECT encode(token_hash, 'hex') AS h FROM api_tokens");
    expect(JSON.stringify(rows)).not.toContain(created.body.token);

    // Expiry: the token's deadline passes.
    await stack.pool.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      created.body.id,
    ]);
    expect((await script.get('/api/auth/me')).status).toBe(401);

    const second = await session.post('/api/tokens', { name: 'to revoke' });
    const other = new ApiClient(stack.apiUrl!, { authorization: `Bearer ${second.body.token}` });
    expect((await other.get('/api/layers')).status).toBe(200);
    expect((await session.delete(`/api/tokens/${second.body.id}`)).status).toBe(204);
    expect((await other.get('/api/layers')).status).toBe(401);
    expect((await other.get('/api/auth/me')).body.title).toBe('Sign-in required');
  });

  it('answers 401 for a made-up bearer token or cookie', async () => {
    const forged = new ApiClient(stack.apiUrl!, { authorization: 'Bearer lmt_forged' });
    expect((await forged.get('/api/layers')).status).toBe(401);
    const cookie = new ApiClient(stack.apiUrl!, { cookie: 'lamina_session=lms_forged' });
    expect((await cookie.get('/api/layers')).status).toBe(401);
  });
});

describe('built-in administrator without LAMINA_ADMIN_PASSWORD', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('generates a password once, announces it once, and it signs in', async () => {
    const announced: string[] = [];
    await ensureAdministrator(pool, undefined, (line) => announced.push(line));
    await ensureAdministrator(pool, undefined, (line) => announced.push(line));
    expect(announced).toHaveLength(1);
    const password = /: (\S+)$/.exec(announced[0])![1];
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(await verifyLocalUser(pool, 'administrator', password)).toBe(true);
    expect(await verifyLocalUser(pool, 'administrator', `${password}x`)).toBe(false);

    // Setting LAMINA_ADMIN_PASSWORD later replaces the generated one.
    await ensureAdministrator(pool, 'a chosen password', () => announced.push('unexpected'));
    expect(await verifyLocalUser(pool, 'administrator', 'a chosen password')).toBe(true);
    expect(await verifyLocalUser(pool, 'administrator', password)).toBe(false);
    expect(announced).toHaveLength(1);
  });
});

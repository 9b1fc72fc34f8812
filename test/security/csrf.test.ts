import type { Stack } from '../../runtime/stack';
import { CSRF_HEADER } from '../../api/csrf';
import { createTestDatabase, startTestStack, testConfig, type TestDatabase } from '../harness';
import { administratorClient, ApiClient } from '../api-client';

const PASSWORD = 'csrf test password';

describe('CSRF: writes made with the session cookie carry the session’s token', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startTestStack(testConfig(db.url, { LAMINA_ADMIN_PASSWORD: PASSWORD }), { worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('sets a readable lamina_csrf cookie beside the HttpOnly session cookie, one per session', async () => {
    const [first, login] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    const [second] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    const csrf = login.headers.getSetCookie().find((c) => c.startsWith('lamina_csrf='))!;
    expect(csrf).toMatch(/^lamina_csrf=[A-Za-z0-9_-]{43};/);
    expect(csrf).toMatch(/SameSite=Strict/);
    expect(csrf).not.toMatch(/HttpOnly/);
    expect(first.headers[CSRF_HEADER]).not.toBe(second.headers[CSRF_HEADER]);
    expect(login.body).toEqual({ name: 'administrator', kind: 'local', roles: ['Administrator'] });
  });

  it('refuses a session write without the token or with another session’s, and audits the refusal', async () => {
    const [api] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    const [other] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    const { [CSRF_HEADER]: token, ...cookieOnly } = api.headers;
    const missing = await new ApiClient(stack.apiUrl!, cookieOnly).post('/api/tokens', { name: 'no token' });
    expect(missing.status).toBe(403);
    expect(missing.body).toMatchObject({ title: 'CSRF token missing or wrong' });
    const foreign = await new ApiClient(stack.apiUrl!, {
      ...cookieOnly,
      [CSRF_HEADER]: other.headers[CSRF_HEADER],
    }).post('/api/tokens', { name: 'wrong token' });
    expect(foreign.status).toBe(403);
    expect(token).toBeTruthy();

    // Reads need no token; the same write with it succeeds; nothing was made by the refused ones.
    expect((await new ApiClient(stack.apiUrl!, cookieOnly).get('/api/auth/me')).status).toBe(200);
    expect((await api.post('/api/tokens', { name: 'with token' })).status).toBe(201);
    const names = (await api.get('/api/tokens')).body.items.map((t: { name: string }) => t.name);
    expect(names).toEqual(['with token']);
    // The audit row is written when the answer is over; the three are there once the third is.
    let rows: { outcome: string; status: number; detail: string | null }[] = [];
    for (let i = 0; i < 100 && rows.length < 3; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 50));
      ({ rows } = await stack.pool.query(
        `SELECT outcome, status, detail FROM audit_log
          WHERE action IN ('createApiToken', 'POST /tokens') ORDER BY id`,
      ));
    }
    expect(rows.map((r) => [r.outcome, r.status, r.detail])).toEqual([
      ['denied', 403, 'CSRF token missing or wrong'],
      ['denied', 403, 'CSRF token missing or wrong'],
      ['success', 201, null],
    ]);
  });

  it('needs no token for API-token writes, and a signed-out session’s token no longer works', async () => {
    const admin = await administratorClient(stack);
    expect((await admin.post('/api/tokens', { name: 'script' })).status).toBe(201);
    const [api] = await ApiClient.signIn(stack.apiUrl!, 'administrator', PASSWORD);
    expect((await api.post('/api/auth/logout')).status).toBe(204);
    expect((await api.post('/api/tokens', { name: 'after logout' })).status).toBe(401);
  });
});

import http from 'node:http';
import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, type TestDatabase } from '../harness';

const PASSWORD = 'lockout admin password';
const ADMINISTRATOR_LOCK_CAP_S = 5 * 60;

interface Answer {
  status: number;
  retryAfter: number;
  detail: string;
}

describe('sign-in throttle: atomic, per user name and per client address, bounded', () => {
  let db: TestDatabase;
  let stack: Stack;

  /** POST /api/auth/login from a chosen loopback address (all of 127.0.0.0/8 reaches the API). */
  function signInFrom(address: string, username: string, password: string): Promise<Answer> {
    const url = new URL('/api/auth/login', stack.apiUrl);
    const body = JSON.stringify({ username, password });
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          localAddress: address,
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode!,
              retryAfter: Number(response.headers['retry-after'] ?? 0),
              detail: JSON.parse(text).detail ?? '',
            }),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  const statuses = (answers: Answer[]) =>
    answers.reduce<Record<number, number>>((n, a) => ({ ...n, [a.status]: (n[a.status] ?? 0) + 1 }), {});

  async function administratorLockSeconds(): Promise<number> {
    const { rows } = await stack.pool.query<{ s: number }>(
      `SELECT extract(epoch FROM max(locked_until) - now())::float8 AS s FROM login_failures
        WHERE locked_until IS NOT NULL`,
    );
    return rows[0].s;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    // The defaults: 5 failures per user name, a 30 s first lock.
    stack = await startTestStack(testConfig(db.url, { LAMINA_ADMIN_PASSWORD: PASSWORD }), { worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('checks at most 5 of 60 parallel wrong passwords for the administrator; the rest are 429 unchecked', async () => {
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => signInFrom('127.0.0.10', 'administrator', `guess ${i}`)),
    );
    // 401 = the password was checked and wrong; 429 = refused before any check.
    expect(statuses(answers)).toEqual({ 401: 5, 429: 55 });
    expect(await administratorLockSeconds()).toBeLessThanOrEqual(30);
  });

  it("caps the administrator's lock at 5 minutes, and lets an address without failures sign in", async () => {
    // While the administrator is locked, each address without failures still gets one check: ten
    // more wrong guesses would lock it for 30 s × 2^10 uncapped.
    for (let i = 20; i < 30; i++) {
      expect((await signInFrom(`127.0.0.${i}`, 'administrator', 'wrong')).status).toBe(401);
      expect((await signInFrom(`127.0.0.${i}`, 'administrator', PASSWORD)).status).toBe(429);
    }
    const flooder = await signInFrom('127.0.0.10', 'administrator', PASSWORD);
    expect(flooder.status).toBe(429);
    expect(flooder.retryAfter).toBeGreaterThan(ADMINISTRATOR_LOCK_CAP_S - 30);
    expect(flooder.retryAfter).toBeLessThanOrEqual(ADMINISTRATOR_LOCK_CAP_S);
    expect(await administratorLockSeconds()).toBeLessThanOrEqual(ADMINISTRATOR_LOCK_CAP_S);

    expect((await signInFrom('127.0.0.30', 'administrator', PASSWORD)).status).toBe(200);
    // The right password cleared the administrator's count: the flooding address may try again.
    expect((await signInFrom('127.0.0.10', 'administrator', PASSWORD)).status).toBe(200);
  });

  it('locks an address that fails for 1,000 unknown names after 50, adding at most 50 rows', async () => {
    const before = Number((await stack.pool.query('SELECT count(*) AS n FROM login_failures')).rows[0].n);
    const answers: Answer[] = [];
    for (let batch = 0; batch < 50; batch++) {
      answers.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, i) => signInFrom('127.0.0.40', `nobody-${batch}-${i}`, 'x')),
        )),
      );
    }
    expect(statuses(answers)).toEqual({ 401: 50, 429: 950 });
    expect(answers.find((a) => a.status === 429)!.detail).toMatch(/from your address/);
    const after = Number((await stack.pool.query('SELECT count(*) AS n FROM login_failures')).rows[0].n);
    expect(after - before).toBeLessThanOrEqual(51); // 50 user names and the address itself

    // Another address is not affected.
    expect((await signInFrom('127.0.0.41', 'administrator', PASSWORD)).status).toBe(200);
  });

  it('forgets failures after a day and purges their rows', async () => {
    await stack.pool.query(`UPDATE login_failures SET last_attempt = now() - interval '2 days',
                                   locked_until = NULL`);
    expect((await signInFrom('127.0.0.50', 'somebody', 'x')).status).toBe(401);
    const { rows } = await stack.pool.query<{ n: string }>('SELECT count(*) AS n FROM login_failures');
    expect(Number(rows[0].n)).toBe(2); // this attempt's user name and address
  });
});

import net from 'node:net';
import zlib from 'node:zlib';
import { bodyProblem, JSON_BODY_LIMIT_BYTES, type BodyParserError } from '../../api/json-body';
import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, type TestDatabase } from '../harness';

/** Requests no client signs: the body is read before authentication, so its errors reach anyone. */
describe('request bodies the JSON parser refuses', () => {
  let db: TestDatabase;
  let stack: Stack;

  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startTestStack(testConfig(db.url), { worker: false });
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  async function post(headers: Record<string, string>, body: string | Buffer) {
    const response = await fetch(`${stack.apiUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      body: await response.json(),
    };
  }

  const password = JSON.stringify({ username: 'administrator', password: 'hunter2-secret' });

  it.each<{
    what: string;
    headers: Record<string, string>;
    body: string | Buffer;
    status: number;
    title: string;
    detail: RegExp;
  }>([
    {
      what: 'JSON over 1 MiB',
      headers: {},
      body: JSON.stringify({ username: 'x'.repeat(JSON_BODY_LIMIT_BYTES) }),
      status: 413,
      title: 'Request body too large',
      detail: /is 1048\d{3} bytes, over the limit of 1048576 bytes/,
    },
    {
      what: 'a small gzip body inflating past 1 MiB',
      headers: { 'content-encoding': 'gzip' },
      body: zlib.gzipSync(JSON.stringify({ username: 'x'.repeat(3 * JSON_BODY_LIMIT_BYTES) })),
      status: 413,
      title: 'Request body too large',
      detail: /over the limit of 1048576 bytes \(after decompression\)/,
    },
    {
      what: 'a charset other than UTF-8',
      headers: { 'content-type': 'application/json; charset=latin1' },
      body: password,
      status: 415,
      title: 'Unsupported charset',
      detail: /charset 'latin1' is not supported/,
    },
    {
      what: 'an unknown charset',
      headers: { 'content-type': 'application/json; charset=utf-bogus' },
      body: password,
      status: 415,
      title: 'Unsupported charset',
      detail: /charset 'utf-bogus' is not supported/,
    },
    {
      what: 'an unsupported content-encoding',
      headers: { 'content-encoding': 'compress' },
      body: password,
      status: 415,
      title: 'Unsupported content encoding',
      detail: /Content-Encoding 'compress' is not supported; use one of identity, gzip, deflate, br/,
    },
    {
      what: 'a gzip body that is not gzip',
      headers: { 'content-encoding': 'gzip' },
      body: password,
      status: 400,
      title: 'Malformed compressed body',
      detail: /^The request body is not valid gzip data\.$/,
    },
    {
      what: 'a brotli body that is not brotli',
      headers: { 'content-encoding': 'br' },
      body: password,
      status: 400,
      title: 'Malformed compressed body',
      detail: /^The request body is not valid br data\.$/,
    },
    {
      what: 'malformed JSON',
      headers: {},
      body: password.slice(0, -1) + 'x',
      status: 400,
      title: 'Malformed JSON',
      detail: /^The request body is not valid JSON \(at byte \d+\)\.$/,
    },
    {
      what: 'JSON that is not an object or array',
      headers: {},
      body: '"hunter2-secret"',
      status: 400,
      title: 'Malformed JSON',
      detail: /^The request body is not valid JSON/,
    },
  ])('answers $what with $status naming it', async ({ headers, body, status, title, detail }) => {
    const answer = await post(headers, body);
    expect(answer.status).toBe(status);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(answer.body).toEqual({
      type: 'about:blank',
      title,
      status,
      detail: expect.stringMatching(detail),
    });
    // The body is never echoed: it may carry a password.
    expect(JSON.stringify(answer.body)).not.toContain('hunter2');
  });

  it('still reads gzip, deflate and brotli JSON', async () => {
    const wrong = JSON.stringify({ username: 'administrator', password: 'wrong' });
    for (const [encoding, body] of [
      ['gzip', zlib.gzipSync(wrong)],
      ['deflate', zlib.deflateSync(wrong)],
      ['br', zlib.brotliCompressSync(wrong)],
    ] as const) {
      // Parsed and checked: a wrong password, not a body error.
      expect((await post({ 'content-encoding': encoding }, body)).status).toBe(401);
    }
  });

  it('logs nothing and stays up when a client leaves in the middle of its body', async () => {
    const errors = jest.spyOn(console, 'error');
    try {
      const { port } = new URL(stack.apiUrl!);
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => {
          socket.write(
            'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
              'Content-Length: 1000\r\n\r\n{"username":',
            () => setTimeout(() => socket.destroy(), 100),
          );
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      expect((await post({}, '[')).status).toBe(400);
      expect(errors).not.toHaveBeenCalled();
    } finally {
      errors.mockRestore();
    }
  });
});

describe('every body-parser error type', () => {
  const error = (fields: Partial<BodyParserError>) =>
    Object.assign(new Error('message'), fields) as BodyParserError;

  it.each([
    ['entity.too.large', 413, 'Request body too large', { length: 2_000_000, limit: 1_048_576 }],
    ['charset.unsupported', 415, 'Unsupported charset', { charset: 'koi8-r' }],
    ['encoding.unsupported', 415, 'Unsupported content encoding', { encoding: 'compress' }],
    ['entity.parse.failed', 400, 'Malformed JSON', {}],
    ['entity.verify.failed', 403, 'Request body rejected', {}],
    ['request.aborted', 400, 'Request aborted', {}],
    ['request.size.invalid', 400, 'Body length mismatch', { received: 5, expected: 10 }],
    ['stream.encoding.set', 500, 'Request body unreadable', {}],
    ['stream.not.readable', 500, 'Request body unreadable', {}],
  ])('maps %s to %i %s', (type, status, title, fields) => {
    expect(bodyProblem(error({ type, ...fields }))).toMatchObject({ status, title });
  });

  it('names the mismatch of a body shorter than its Content-Length', () => {
    expect(bodyProblem(error({ type: 'request.size.invalid', received: 5, expected: 10 })).detail).toBe(
      'The body has 5 bytes but Content-Length announced 10.',
    );
  });
});

import { createApiToken } from '../api/auth/api-tokens';
import { BUILT_IN_ADMINISTRATOR, type Identity } from '../api/auth/identity';
import { createSession } from '../api/auth/sessions';
import { CSRF_COOKIE, CSRF_HEADER, csrfTokenFor } from '../api/csrf';
import type { Stack } from '../runtime/stack';

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the answer is JSON, else the text. */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  text: string;
}

/** A client of a test stack's API that sends one set of credentials (cookie or bearer) with each request. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly headers: Record<string, string> = {},
  ) {}

  /** Signs in through POST /api/auth/login and keeps the session cookie and the CSRF token cookie's value. */
  static async signIn(
    baseUrl: string,
    username: string,
    password: string,
  ): Promise<[ApiClient, ApiResponse]> {
    const anonymous = new ApiClient(baseUrl);
    const response = await anonymous.request('POST', '/api/auth/login', { username, password });
    const cookies = response.headers.getSetCookie().map((c) => c.split(';')[0]);
    const session = cookies.find((c) => c.startsWith('lamina_session='));
    const csrf = cookies.find((c) => c.startsWith(`${CSRF_COOKIE}=`))?.slice(CSRF_COOKIE.length + 1);
    const headers: Record<string, string> = session ? { cookie: session } : {};
    if (csrf) headers[CSRF_HEADER] = csrf;
    return [new ApiClient(baseUrl, headers), response];
  }

  async request(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: { ...this.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    if (/json/.test(response.headers.get('content-type') ?? '')) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed, text };
  }

  get = (path: string) => this.request('GET', path);
  post = (path: string, body: unknown = {}) => this.request('POST', path, body);
  patch = (path: string, body: unknown) => this.request('PATCH', path, body);
  delete = (path: string) => this.request('DELETE', path);
}

export const ADMINISTRATOR: Identity = { name: BUILT_IN_ADMINISTRATOR, kind: 'local', groups: [] };

/** A client signed in as the built-in administrator through an API token (no password needed). */
export async function administratorClient(stack: Stack): Promise<ApiClient> {
  const { token } = await createApiToken(stack.pool, ADMINISTRATOR, 'test', 1);
  return new ApiClient(stack.apiUrl!, { authorization: `Bearer ${token}` });
}

/** A client with a session (and its CSRF token) for any identity, e.g. a directory user whose groups hold a role. */
export async function sessionClient(stack: Stack, identity: Identity): Promise<ApiClient> {
  const token = await createSession(stack.pool, identity, 3600_000);
  return new ApiClient(stack.apiUrl!, {
    cookie: `lamina_session=${token}`,
    [CSRF_HEADER]: csrfTokenFor(token),
  });
}

/**
 * The console's only way to the appliance: the public JSON API on the same origin, with the session
 * cookie. Every write sends the session's CSRF token (the lamina_csrf cookie set at sign-in) as
 * X-CSRF-Token (api/csrf.ts).
 */

/** An RFC 9457 problem the API answered, kept whole so pages can show `errors` and `usedBy`. */
export interface Problem {
  title: string;
  status: number;
  detail?: string;
  errors?: { field: string; message: string }[];
  usedBy?: Record<string, string[]>;
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
  get status(): number {
    return this.problem.status;
  }
}

/** Listeners told when the API answers 401: the session ended (expired, signed out elsewhere). */
const signedOutListeners = new Set<() => void>();
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

function csrfToken(): string | undefined {
  const cookie = document.cookie.split('; ').find((c) => c.startsWith('lamina_csrf='));
  return cookie && decodeURIComponent(cookie.slice('lamina_csrf='.length));
}

async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = contentType;
  if (method !== 'GET') {
    const token = csrfToken();
    if (token) headers['x-csrf-token'] = token;
  }
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body:
      body === undefined
        ? undefined
        : contentType === 'application/json'
          ? JSON.stringify(body)
          : (body as Blob),
  });
  const text = await response.text();
  const parsed: unknown =
    text && /json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text;
  if (!response.ok) {
    const problem =
      typeof parsed === 'object' && parsed !== null && 'title' in parsed
        ? (parsed as Problem)
        : { title: response.statusText || 'Request failed', status: response.status, detail: String(parsed) };
    if (response.status === 401 && path !== '/api/auth/login') signedOutListeners.forEach((l) => l());
    throw new ApiError(problem);
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  delete: <T = void>(path: string) => call<T>('DELETE', path),
  /** Uploads a file as the raw body (POST /api/uploads); answers its upload id. */
  upload: async (file: Blob) =>
    (await call<{ id: string }>('POST', '/api/uploads', file, 'application/octet-stream')).id,
};

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

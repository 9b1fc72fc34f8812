import fs from 'node:fs/promises';
import type { Task } from '../api/tasks/task-service';

/** An RFC 9457 problem as the API answers a refusal (api/problem.ts). */
interface Problem {
  title?: string;
  detail?: string;
  errors?: { field: string; message: string }[];
  usedBy?: Record<string, string[]>;
}

/**
 * What the API said when it refused: the status, the problem's title and detail, each bad field and
 * what uses an object still in use; the body as it came when it is no problem.
 */
function refusal(status: number, body: string): string {
  let problem: Problem | null;
  try {
    problem = JSON.parse(body) as Problem | null;
  } catch {
    problem = null;
  }
  if (typeof problem?.title !== 'string') return `HTTP ${status} ${body}`;
  const lines = [`HTTP ${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}`];
  for (const e of problem.errors ?? [])
    if (!problem.detail?.includes(e.message)) lines.push(`  ${e.field}: ${e.message}`);
  for (const [kind, names] of Object.entries(problem.usedBy ?? {}))
    for (const name of names) lines.push(`  used by ${kind} '${name}'`);
  return lines.join('\n');
}

/**
 * A small client of Lamina's API for programs that drive it as an admin would (the demo, benchmarks):
 * JSON in and out, uploads as raw bodies, and waiting for tasks by long-polling.
 */
export function laminaClient(apiUrl: string, headers: Record<string, string>) {
  const call = async <T>(
    method: string,
    route: string,
    body?: unknown,
    type = 'application/json',
  ): Promise<T> => {
    const response = await fetch(apiUrl + route, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': type }) },
      body:
        body === undefined
          ? undefined
          : type === 'application/json'
            ? JSON.stringify(body)
            : (body as Buffer),
    });
    const text = await response.text();
    if (response.status >= 300) throw new Error(`${method} ${route}: ${refusal(response.status, text)}`);
    // A delete answers 204 with no body.
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    get: <T>(route: string) => call<T>('GET', route),
    post: <T>(route: string, body: unknown) => call<T>('POST', route, body),
    patch: <T>(route: string, body: unknown) => call<T>('PATCH', route, body),
    delete: (route: string) => call<void>('DELETE', route),
    upload: async (file: string) =>
      (
        await call<{ id: string }>(
          'POST',
          '/api/uploads',
          await fs.readFile(file),
          'application/octet-stream',
        )
      ).id,
    /** Waits until the task closes, or until `deadline` (epoch ms) and returns it still running. */
    async waitForTask(id: string, deadline = Infinity): Promise<Task> {
      for (;;) {
        const seconds = Math.max(0, Math.min(30, Math.ceil((deadline - Date.now()) / 1000)));
        const task = await call<Task>('GET', `/api/tasks/${encodeURIComponent(id)}/wait?timeout=${seconds}`);
        if (task.state !== 'running' || Date.now() >= deadline) return task;
      }
    },
  };
}

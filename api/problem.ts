import { isGrpcServiceError } from '@temporalio/client';
import type { ErrorRequestHandler, Response } from 'express';
import { ZodError } from 'zod';

/** An RFC 9457 problem detail; `errors` names each bad field when validation failed. */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { field: string; message: string }[];
  /** RFC 9457 extension members, e.g. `usedBy` on a refused delete. */
  [extension: string]: unknown;
}

export function notFound(what: string, id: string): HttpProblem {
  return new HttpProblem({
    title: `${what} not found`,
    status: 404,
    detail: `${what} '${id}' does not exist.`,
  });
}

export class HttpProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
}

export function sendProblem(res: Response, problem: Problem): void {
  if (typeof problem.retryAfterSeconds === 'number')
    res.set('Retry-After', String(problem.retryAfterSeconds));
  // The audit log records why a mutating request failed (its title: short, never a secret).
  if (res.locals.audit) res.locals.audit.detail = problem.title;
  res
    .status(problem.status)
    .type('application/problem+json')
    .json({ type: 'about:blank', ...problem });
}

export function validationProblem(error: ZodError, where: 'body' | 'query' | 'params'): Problem {
  return {
    title: 'Invalid request',
    status: 400,
    detail: `The request ${where} has ${error.issues.length} invalid field(s).`,
    errors: error.issues.map((i) => ({ field: [where, ...i.path].join('.'), message: i.message })),
  };
}

/**
 * A 503 naming Temporal, where tasks live: it does not answer (stopped, restarting, unreachable). The
 * client may try again shortly.
 */
export function temporalUnavailable(reason: string): HttpProblem {
  return new HttpProblem({
    title: 'Temporal unavailable',
    status: 503,
    detail: `Temporal, which runs the tasks, does not answer (${reason}); try again shortly.`,
    retryAfterSeconds: 5,
  });
}

/** gRPC status codes (grpc/status.h) that mean the server was not reached or did not answer in time. */
const GRPC_UNREACHABLE = new Set([/* DEADLINE_EXCEEDED */ 4, /* UNAVAILABLE */ 14]);

/**
 * The 503 for an error of a Temporal call that did not reach the server (anywhere in its cause chain:
 * the SDK wraps gRPC errors), or undefined for any other error.
 */
export function temporalUnavailableFrom(err: unknown): HttpProblem | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && GRPC_UNREACHABLE.has(e.code)) return temporalUnavailable(e.details);
  }
  return undefined;
}

/** A 503 naming PostgreSQL, where the records live: it does not answer (stopped, restarting). */
export function databaseUnavailable(err: Error): HttpProblem {
  return new HttpProblem({
    title: 'PostgreSQL unavailable',
    status: 503,
    detail: `PostgreSQL, which keeps Lamina's records, does not answer (${err.message || (err as NodeJS.ErrnoException).code}); try again shortly.`,
    retryAfterSeconds: 5,
  });
}

/** A 400 for checks zod cannot make alone (a referenced object missing, in the wrong state…). */
export function invalidFields(errors: { field: string; message: string }[]): HttpProblem {
  return new HttpProblem({
    title: 'Invalid request',
    status: 400,
    detail: `The request body has ${errors.length} invalid field(s).`,
    errors,
  });
}

/**
 * Last error handler: known problems go out as they are, anything else as a 500 without internals.
 * `databaseUnreachable` tells a lost database from a failed query (db/pool.ts).
 */
export const problemHandler =
  (databaseUnreachable: (err: unknown) => boolean): ErrorRequestHandler =>
  (err, _req, res, _next) => {
    if (err instanceof HttpProblem) return sendProblem(res, err.problem);
    if (err instanceof ZodError) return sendProblem(res, validationProblem(err, 'body'));
    // Postgres unique_violation: a name that must be unique is taken. Its detail names the key, never a secret.
    if (err?.code === '23505') {
      return sendProblem(res, { title: 'Already exists', status: 409, detail: err.detail ?? err.message });
    }
    // foreign_key_violation: something started using the object while it was being deleted.
    if (err?.code === '23503') {
      return sendProblem(res, { title: 'In use', status: 409, detail: 'Another object refers to this one.' });
    }
    const unavailable = temporalUnavailableFrom(err);
    if (unavailable) return sendProblem(res, unavailable.problem);
    if (databaseUnreachable(err)) return sendProblem(res, databaseUnavailable(err as Error).problem);
    console.error('unhandled API error', err);
    sendProblem(res, { title: 'Internal error', status: 500, detail: 'The server failed; see its log.' });
  };

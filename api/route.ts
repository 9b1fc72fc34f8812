import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { hasPermission, type Access } from './auth/roles';
import type { Caller } from './auth/identity';
import { HttpProblem } from './problem';
import { parseRequestPart } from './validation';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Requests that change something: audited, and refused a cross-site session cookie. */
export function isMutating(httpMethod: string): boolean {
  return ['POST', 'PUT', 'PATCH', 'DELETE'].includes(httpMethod);
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The signed-in caller; on `public` routes an anonymous one without roles. */
  caller: Caller;
  req: Request;
  res: Response;
  /** Names the object the request created, so the audit log can point at it. */
  auditObject(id: string): void;
}

/**
 * One operation of the API. Its access rule, schemas and handler live together so the same table drives
 * the express routers, the OpenAPI document and the test that walks every route against every role.
 */
export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: Method;
  /** Express path below the resource's base path, e.g. `/:id`. */
  path: string;
  operationId: string;
  summary: string;
  access: Access;
  /**
   * Access that depends on the object the path names (a layer's type): checked after `access` and the
   * params, before the query and body are validated, so a caller without it learns nothing more.
   */
  authorizeObject?(params: z.output<P>, caller: Caller): Promise<void>;
  params?: P;
  query?: Q;
  body?: B;
  /** What a successful answer holds; documents it in OpenAPI, and the route walk test checks answers against it. */
  response?: z.ZodType;
  /** Status of a successful answer (200 unless given); a handler returning undefined answers 204. */
  status?: number;
  handle(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<unknown>;
}

export interface Route extends Omit<
  RouteSpec<z.ZodType, z.ZodType, z.ZodType>,
  'handle' | 'authorizeObject'
> {
  /** Full express path including the resource's base path. */
  fullPath: string;
  tag: string;
  authorizeObject?(params: unknown, caller: Caller): Promise<void>;
  handle(ctx: RouteContext<unknown, unknown, unknown>): Promise<unknown>;
}

export interface Resource {
  tag: string;
  basePath: string;
  routes: Route[];
}

/** Declares a route; the generics carry each schema's output type into the handler. */
export function route<
  P extends z.ZodType = z.ZodObject,
  Q extends z.ZodType = z.ZodObject,
  B extends z.ZodType = z.ZodUndefined,
>(spec: RouteSpec<P, Q, B>): RouteSpec<z.ZodType, z.ZodType, z.ZodType> {
  return spec as unknown as RouteSpec<z.ZodType, z.ZodType, z.ZodType>;
}

export function resource(
  tag: string,
  basePath: string,
  routes: RouteSpec<z.ZodType, z.ZodType, z.ZodType>[],
): Resource {
  return {
    tag,
    basePath,
    routes: routes.map((r) => ({ ...r, tag, fullPath: (basePath + r.path).replace(/\/$/, '') || '/' })),
  };
}

const ANONYMOUS: Caller = { name: 'anonymous', kind: 'local', groups: [], roles: [], via: 'session' };

function authorize(access: Access, caller: Caller | undefined, callerProblem?: HttpProblem): void {
  if (access === 'public') return;
  if (!caller) {
    throw (
      callerProblem ??
      new HttpProblem({
        title: 'Sign-in required',
        status: 401,
        detail: 'Sign in or send an API token.',
      })
    );
  }
  if (access === 'signed-in' || hasPermission(caller.roles, access)) return;
  throw new HttpProblem({
    title: 'Permission denied',
    status: 403,
    detail: `This needs the '${access}' permission, which none of your roles (${caller.roles.join(', ') || 'none'}) grants.`,
  });
}

/** The express router of one resource: authorize, validate, run, answer. */
export function resourceRouter(res: Resource): Router {
  const router = Router();
  for (const r of res.routes) {
    router[r.method](r.path, async (req, response) => {
      response.locals.audit = { action: r.operationId, objectId: req.params.versionId ?? req.params.id };
      authorize(r.access, req.caller, req.callerProblem);
      const params = r.params ? parseRequestPart(r.params, req.params, 'params') : req.params;
      await r.authorizeObject?.(params, req.caller ?? ANONYMOUS);
      const ctx: RouteContext<unknown, unknown, unknown> = {
        params,
        query: r.query ? parseRequestPart(r.query, req.query, 'query') : req.query,
        body: r.body ? parseRequestPart(r.body, req.body ?? {}, 'body') : undefined,
        caller: req.caller ?? ANONYMOUS,
        req,
        res: response,
        auditObject: (id) => (response.locals.audit.objectId = id),
      };
      const result = await r.handle(ctx);
      if (response.headersSent) return;
      if (result === undefined) response.status(204).end();
      else response.status(r.status ?? 200).json(result);
    });
  }
  return router;
}

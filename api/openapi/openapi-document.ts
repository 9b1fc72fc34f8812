import { z } from 'zod';
import type { Resource, Route } from '../route';

type JsonSchema = Record<string, unknown>;

/** JSON Schema (draft 2020-12, which OpenAPI 3.1 uses) of what a client sends, or of what it gets back. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema; // the document as a whole declares the dialect
  return json;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const json = jsonSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    description: property.description,
    schema: property,
  }));
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

function operation(r: Route) {
  const status = String(r.status ?? 200);
  const responses: Record<string, unknown> = {
    [status]: {
      description: 'Success',
      ...(status === '204' ? {} : { content: { 'application/json': {} } }),
    },
    '400': problemResponse('Invalid request: `errors` names each bad field'),
  };
  if (r.access !== 'public') {
    responses['401'] = problemResponse('Not signed in');
    if (r.access !== 'signed-in') responses['403'] = problemResponse(`Lacks the '${r.access}' permission`);
  }
  if (r.params) responses['404'] = problemResponse('Not found');
  if (r.method === 'delete' || r.method === 'post' || r.method === 'patch') {
    responses['409'] = problemResponse('Conflicts with existing data (in use, name taken, wrong state)');
  }
  if (r.access !== 'public') {
    responses['503'] = problemResponse(
      'A service it needs does not answer: a directory junction, or Temporal for anything about tasks',
    );
  }
  return {
    operationId: r.operationId,
    summary: r.summary,
    tags: [r.tag],
    'x-lamina-access': r.access,
    security: r.access === 'public' ? [] : [{ session: [] }, { token: [] }],
    parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
    ...(r.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } }
      : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of the whole API, generated from the same route table and zod schemas it runs on. */
export function openApiDocument(resources: Resource[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of resources.flatMap((res) => res.routes)) {
    const path = r.fullPath.replace(/:([A-Za-z]+)/g, '{$1}');
    (paths[path] ??= {})[r.method] = operation(r);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Lamina API',
      version,
      description:
        'Management API of the Lamina layered-image appliance. Sign in with POST /api/auth/login (session ' +
        'cookie) or send `Authorization: Bearer <API token>`. A write made with the session cookie must ' +
        'also send `X-CSRF-Token` with the value of the lamina_csrf cookie sign-in sets; without it the ' +
        'answer is a 403. Errors are RFC 9457 problem details. Image Portability (/api/ips/...) needs the ' +
        'Image Porter or Administrator role.',
    },
    tags: resources.map((r) => ({ name: r.tag })),
    paths,
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'lamina_session' },
        token: { type: 'http', scheme: 'bearer' },
      },
      schemas: {
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            errors: {
              type: 'array',
              items: {
                type: 'object',
                properties: { field: { type: 'string' }, message: { type: 'string' } },
              },
            },
          },
        },
      },
    },
  };
}

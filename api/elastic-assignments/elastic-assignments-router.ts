import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { deleteRecord, insertRecord, updateRecord } from '../../db/crud';
import { assignableVersion, elasticAssignmentRecords } from '../../db/elastic-assignments';
import { listPage, pageQuery, type Queryable } from '../../db/list-page';
import type { ApiDeps } from '../deps';
import { loadJunctions } from '../directory-junctions/junction-store';
import { findOr404 } from '../lookup';
import { HttpProblem, invalidFields, notFound } from '../problem';
import { pageOf, recordTimes } from '../responses';
import { resource, route } from '../route';
import { definedFields, idParams, patchOf } from '../validation';
import { lookedUp, resolvePrincipals } from './directory-principals';

const principal = z.string().trim().min(1).max(1024).describe('DOMAIN\\name or name@domain');
/** Machine name patterns with * and ? wildcards, as Windows computer names allow. */
const machinePattern = z
  .string()
  .regex(/^[A-Za-z0-9*?-]{1,15}$/, 'a computer name pattern with * and ? wildcards');

const elasticAssignment = z.object({
  layerVersionId: z.uuid(),
  users: z.array(principal).max(10_000).default([]),
  groups: z.array(principal).max(10_000).default([]),
  machinePatterns: z.array(machinePattern).max(1000).default([]),
});
type ElasticAssignment = z.output<typeof elasticAssignment>;

const item = elasticAssignment.extend({
  id: z.uuid(),
  principals: z
    .array(z.object({ name: z.string(), kind: z.enum(['user', 'group']), sid: z.string(), dn: z.string() }))
    .describe('The users and groups with the SIDs the directory gave when the assignment was saved'),
  ...recordTimes,
});

/** Problems with the record itself, before the directory is asked. */
async function recordProblems(db: Queryable, record: ElasticAssignment) {
  const errors = [];
  if (record.users.length + record.groups.length + record.machinePatterns.length === 0) {
    errors.push({ field: 'body.users', message: 'assign to at least one user, group or machine pattern' });
  }
  const version = await assignableVersion(db, record.layerVersionId);
  if (!version) errors.push({ field: 'body.layerVersionId', message: 'no layer version has this id' });
  else if (version.type !== 'app')
    errors.push({ field: 'body.layerVersionId', message: 'only app layers are elastic' });
  else if (version.state !== 'Deployable') {
    errors.push({ field: 'body.layerVersionId', message: `the version is ${version.state}, not Deployable` });
  }
  return errors;
}

/** A version whose elastic-fit verdict says no (from its capture) is refused: it belongs in images. */
async function refuseUnfit(db: Queryable, versionId: string): Promise<void> {
  const version = await assignableVersion(db, versionId);
  if (version?.elasticFit !== 'unfit') return;
  const reasons = version.elasticFitReasons.map((r) => `${r.rule}: ${r.detail}`).join('; ');
  const message = `the version is not fit to be an elastic layer (${reasons || 'its capture said so'}); include it in images instead`;
  throw new HttpProblem({
    title: 'Not fit for elastic delivery',
    status: 422,
    detail: `body.layerVersionId: ${message}`,
    errors: [{ field: 'body.layerVersionId', message }],
  });
}

/**
 * Elastic layer assignments: an app layer version delivered at logon to users, groups or machines.
 * Users and groups are looked up in their domain's directory when the assignment is saved: a name the
 * directory does not know is refused (422), and the SIDs found are kept for the share's files.
 */
export function elasticAssignmentsResource({ pool, secrets }: ApiDeps) {
  const get = (id: string) => findOr404(pool, elasticAssignmentRecords.view, id, 'Elastic assignment');
  /** The record checked and its principals resolved, ready to store. */
  const checked = async (record: ElasticAssignment) => {
    const errors = await recordProblems(pool, record);
    if (errors.length > 0) throw invalidFields(errors);
    await refuseUnfit(pool, record.layerVersionId);
    const names = [
      ...record.users.map((name) => ({ kind: 'user' as const, name })),
      ...record.groups.map((name) => ({ kind: 'group' as const, name })),
    ];
    const junctions = names.length > 0 ? await loadJunctions(pool, secrets) : [];
    const principals = await lookedUp('body.users', () => resolvePrincipals(junctions, names));
    return { ...record, principals: JSON.stringify(principals) };
  };

  return resource('Elastic assignments', '/api/elastic-assignments', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listElasticAssignments',
      response: pageOf(item),
      summary: 'List elastic assignments',
      access: 'read',
      query: pageQuery.extend({
        layerVersionId: z.uuid().optional(),
        user: principal.optional(),
        group: principal.optional(),
      }),
      handle: ({ query }) => listPage(pool, elasticAssignmentRecords.view, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createElasticAssignment',
      response: item,
      summary: 'Assign an app layer version to users, groups (by name, resolved to SIDs) or machine patterns',
      access: 'elastic.write',
      body: elasticAssignment,
      status: 201,
      handle: async ({ body, auditObject }) => {
        const record = await checked(body);
        const id = randomUUID();
        auditObject(id);
        await insertRecord(pool, elasticAssignmentRecords, id, record);
        return get(id);
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getElasticAssignment',
      response: item,
      summary: 'Describe an elastic assignment',
      access: 'read',
      params: idParams,
      handle: ({ params }) => get(params.id),
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: 'updateElasticAssignment',
      response: item,
      summary: 'Edit an elastic assignment (its users and groups are looked up again)',
      access: 'elastic.write',
      params: idParams,
      body: patchOf(elasticAssignment),
      handle: async ({ params, body }) => {
        const current = (await get(params.id)) as ElasticAssignment;
        const record = await checked({ ...current, ...definedFields(body as Partial<ElasticAssignment>) });
        await updateRecord(pool, elasticAssignmentRecords, params.id, record);
        return get(params.id);
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'deleteElasticAssignment',
      summary: 'Delete an elastic assignment (the next sync of each share stops delivering it)',
      access: 'elastic.write',
      params: idParams,
      handle: async ({ params }) => {
        if (!(await deleteRecord(pool, elasticAssignmentRecords, params.id)))
          throw notFound('Elastic assignment', params.id);
      },
    }),
  ]);
}

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { optionalText, uncPath } from '../../connectors/connector-type';
import {
  ELASTIC_FILE_NAMES,
  elasticLayersFor,
  parseElasticFiles,
} from '../../connectors/elastic-share/elastic-files';
import { deleteRecord, insertRecord, updateRecord } from '../../db/crud';
import { elasticShareRecords, getElasticShare } from '../../db/elastic-shares';
import { listPage, pageQuery } from '../../db/list-page';
import { readFileSet } from '../../lib/file-set';
import { elasticSyncRequested, elasticSyncWorkflowId } from '../../workflows/elastic-sync';
import type { ApiDeps } from '../deps';
import { loadJunctions } from '../directory-junctions/junction-store';
import { logonIdentity, lookedUp } from '../elastic-assignments/directory-principals';
import { findOr404 } from '../lookup';
import { HttpProblem, notFound } from '../problem';
import { pageOf, recordTimes } from '../responses';
import { resource, route } from '../route';
import { taskSchema } from '../tasks/task-schemas';
import { withTaskLocation } from '../tasks/task-location';
import { displayName, idParams, patchOf } from '../validation';
import { checkShareMount } from './mount-point';

const shareBody = z.object({
  name: displayName,
  sharePath: uncPath.describe('\\\\server\\share the desktops mount elastic layers from'),
  user: optionalText.describe('Account with write access; the appliance account when unset'),
  password: z.string().min(1).max(1024).optional().describe('Write-only: answers only say whether it is set'),
  mountPoint: z
    .string()
    .regex(/^\//, 'must be an absolute path')
    .describe('Where the appliance has the share mounted: a mount point outside system and Lamina folders'),
});

const share = z.object({
  id: z.uuid(),
  name: z.string(),
  sharePath: z.string(),
  user: z.string().nullable(),
  passwordSet: z.boolean(),
  mountPoint: z.string(),
  ...recordTimes,
});

const resolveQuery = z.object({
  user: z.string().trim().min(3).max(1024).describe('DOMAIN\\user or user@domain'),
  machine: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,15}$/, 'a computer name')
    .describe('The computer the user logs on to'),
});

const resolvedLayer = z.object({
  id: z.uuid(),
  name: z.string(),
  version: z.string(),
  creationSequence: z.number(),
  path: z.string(),
});

/** Lamina's answer for a logon, from the share's files as the Layering Service reads them. */
const resolution = z.object({
  user: z.object({ name: z.string(), sid: z.string() }),
  sids: z.array(z.string()).describe("The user's SID and their groups' (nested included)"),
  generation: z.string().describe('The sync the files on the share came from'),
  elasticLayers: z
    .array(resolvedLayer)
    .describe('Lowest priority first: above the base image, below the user layer'),
});

/**
 * Elastic layer shares (System > Settings): where assigned app layers are copied for desktops to mount
 * at logon, with the three JSON files that say who gets which. A sync per share runs one at a time.
 */
export function elasticSharesResource({ pool, secrets, tasks, ownDirs }: ApiDeps) {
  const get = (id: string) => findOr404(pool, elasticShareRecords.view, id, 'Elastic layer share');
  const checkMount = (mountPoint: string) => checkShareMount(mountPoint, ownDirs);
  const stored = (body: Partial<z.output<typeof shareBody>>) => ({
    ...body,
    password: body.password === undefined ? undefined : JSON.stringify(secrets.seal(body.password)),
  });

  return resource('Elastic layer shares', '/api/system-settings/elastic-shares', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listElasticShares',
      summary: 'List elastic layer shares',
      access: 'read',
      query: pageQuery.extend({ name: z.string().max(128).optional() }),
      response: pageOf(share),
      handle: ({ query }) => listPage(pool, elasticShareRecords.view, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createElasticShare',
      summary: 'Add an elastic layer share (its mount point must be mounted)',
      access: 'storage.write',
      body: shareBody,
      status: 201,
      response: share,
      handle: async ({ body, auditObject }) => {
        await checkMount(body.mountPoint);
        const id = randomUUID();
        auditObject(id);
        await insertRecord(pool, elasticShareRecords, id, stored(body));
        return get(id);
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getElasticShare',
      summary: 'Describe an elastic layer share',
      access: 'read',
      params: idParams,
      response: share,
      handle: ({ params }) => get(params.id),
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: 'updateElasticShare',
      summary: 'Change an elastic layer share (the next sync writes to it as changed)',
      access: 'storage.write',
      params: idParams,
      body: patchOf(shareBody),
      response: share,
      handle: async ({ params, body }) => {
        await get(params.id);
        if (body.mountPoint) await checkMount(body.mountPoint);
        await updateRecord(pool, elasticShareRecords, params.id, stored(body));
        return get(params.id);
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'deleteElasticShare',
      summary: 'Forget an elastic layer share (its files stay on the share)',
      access: 'storage.write',
      params: idParams,
      handle: async ({ params }) => {
        if (!(await deleteRecord(pool, elasticShareRecords, params.id)))
          throw notFound('Elastic layer share', params.id);
      },
    }),
    route({
      method: 'post',
      path: '/:id/sync',
      operationId: 'syncElasticShare',
      summary:
        'Copy the assigned layers to the share and write its files; joins the sync of the share already running',
      access: 'elastic.write',
      params: idParams,
      status: 202,
      response: taskSchema,
      handle: async ({ params, caller, res }) => {
        const record = await getElasticShare(pool, params.id);
        if (!record) throw notFound('Elastic layer share', params.id);
        return withTaskLocation(
          res,
          await tasks.startOrSignal('elasticSync', {
            id: elasticSyncWorkflowId(params.id),
            signal: elasticSyncRequested.name,
            user: caller.name,
            objectId: params.id,
            label: record.name,
            args: [{ shareId: params.id }],
          }),
        );
      },
    }),
    route({
      method: 'get',
      path: '/:id/resolve',
      operationId: 'resolveElasticLayers',
      summary: "The elastic layers a user's logon on a machine mounts, read from the share's files",
      access: 'read',
      params: idParams,
      query: resolveQuery,
      response: resolution,
      handle: async ({ params, query }) => {
        const record = await getElasticShare(pool, params.id);
        if (!record) throw notFound('Elastic layer share', params.id);
        let files;
        try {
          files = parseElasticFiles(await readFileSet(record.mountPoint, ELASTIC_FILE_NAMES));
        } catch (err) {
          throw new HttpProblem({
            title: 'Share not synced',
            status: 409,
            detail: `elastic layer share '${record.name}' at ${record.mountPoint}: ${(err as Error).message}`,
          });
        }
        const junctions = await loadJunctions(pool, secrets);
        const identity = await lookedUp('query.user', () => logonIdentity(junctions, query.user));
        const layers = elasticLayersFor(files, { sids: identity.sids, machine: query.machine });
        return {
          user: { name: identity.user.name, sid: identity.user.sid },
          sids: identity.sids,
          generation: files.layers.generation,
          elasticLayers: layers.map(({ id, name, version, creationSequence, path }) => ({
            id,
            name,
            version,
            creationSequence,
            path,
          })),
        };
      },
    }),
  ]);
}

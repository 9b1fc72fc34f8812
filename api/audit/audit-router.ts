import { z } from 'zod';
import { auditList } from '../../db/audit-log';
import { listPage, pageQuery } from '../../db/list-page';
import type { ApiDeps } from '../deps';
import { pageOf, timestamp } from '../responses';
import { resource, route } from '../route';

const auditEntry = z.object({
  id: z.string(),
  at: timestamp,
  actor: z.string(),
  roles: z.array(z.string()),
  action: z.string().describe('Operation id of the request'),
  objectId: z.string().nullable(),
  outcome: z.enum(['success', 'failure', 'denied']),
  status: z.number().int(),
  detail: z.string().nullable(),
});

/** The audit log (append-only; written by api/audit/audit-log.ts for every mutating request). */
export function auditResource({ pool }: ApiDeps) {
  return resource('Audit', '/api/audit', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listAuditEntries',
      response: pageOf(auditEntry),
      summary: 'Read the audit log, newest first',
      access: 'audit.read',
      query: pageQuery.extend({
        actor: z.string().max(256).optional(),
        action: z.string().max(128).optional(),
        objectId: z.string().max(256).optional(),
        outcome: z.enum(['success', 'failure', 'denied']).optional(),
        since: z.iso.datetime({ offset: true }).optional(),
        until: z.iso.datetime({ offset: true }).optional(),
      }),
      handle: ({ query }) => listPage(pool, auditList, query),
    }),
  ]);
}

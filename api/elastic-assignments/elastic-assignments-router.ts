import { z } from 'zod';
import { assignableVersion, elasticAssignmentRecords } from '../../db/elastic-assignments';
import { pageQuery } from '../../db/list-page';
import { crudResource } from '../crud';
import type { ApiDeps } from '../deps';
import { recordTimes } from '../responses';

const principal = z.string().trim().min(1).max(1024);
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

/** Elastic layer assignments: an app layer version delivered at logon to users, groups or machines. */
export function elasticAssignmentsResource({ pool }: ApiDeps) {
  return crudResource(pool, {
    tag: 'Elastic assignments',
    basePath: '/api/elastic-assignments',
    what: 'Elastic assignment',
    noun: 'ElasticAssignment',
    records: elasticAssignmentRecords,
    listQuery: pageQuery.extend({
      layerVersionId: z.uuid().optional(),
      user: principal.optional(),
      group: principal.optional(),
    }),
    body: elasticAssignment,
    item: elasticAssignment.extend({ id: z.uuid(), ...recordTimes }),
    access: 'elastic.write',
    check: async (db, record) => {
      const errors = [];
      if (record.users.length + record.groups.length + record.machinePatterns.length === 0) {
        errors.push({
          field: 'body.users',
          message: 'assign to at least one user, group or machine pattern',
        });
      }
      const version = await assignableVersion(db, record.layerVersionId);
      if (!version) errors.push({ field: 'body.layerVersionId', message: 'no layer version has this id' });
      else if (version.type !== 'app')
        errors.push({ field: 'body.layerVersionId', message: 'only app layers are elastic' });
      else if (version.state !== 'Deployable') {
        errors.push({
          field: 'body.layerVersionId',
          message: `the version is ${version.state}, not Deployable`,
        });
      }
      return errors;
    },
  });
}

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { listPage, pageQuery } from '../../db/list-page';
import {
  deleteRoleAssignment,
  insertRoleAssignment,
  roleAssignmentList,
  roleOfAssignment,
} from '../../db/role-assignments';
import { grantRefused, mayGrant, PERMISSIONS, ROLE_PERMISSIONS, ROLES, type Role } from '../auth/roles';
import { rolesConfirmedNow } from '../auth/directory-recheck';
import type { Caller } from '../auth/identity';
import type { ApiDeps } from '../deps';
import { findOr404 } from '../lookup';
import { notFound } from '../problem';
import { pageOf, timestamp } from '../responses';
import { resource, route } from '../route';
import { idParams } from '../validation';

const assignmentBody = z.object({
  role: z.enum(ROLES),
  principalType: z.enum(['user', 'group']),
  principal: z.string().trim().min(3).max(1024).describe('Distinguished name of the directory user or group'),
});

const assignment = assignmentBody.extend({ id: z.uuid(), createdAt: timestamp });

/** Role assignments: which directory users and groups hold which roles. */
export function roleAssignmentsResource({ pool, secrets }: ApiDeps) {
  /**
   * A grant outlives the interval a caller's directory groups are trusted for, so the caller's roles
   * are confirmed with the directory before one is made or revoked.
   */
  async function mayGrantNow(caller: Caller, role: Role): Promise<void> {
    const roles = await rolesConfirmedNow(pool, secrets, caller);
    if (!mayGrant(roles, role)) throw grantRefused(roles, role);
  }

  return resource('Roles', '/api/role-assignments', [
    route({
      method: 'get',
      path: '/roles',
      operationId: 'listRoles',
      response: z.array(z.object({ role: z.enum(ROLES), permissions: z.array(z.enum(PERMISSIONS)) })),
      summary: 'The roles and the permissions each grants',
      access: 'read',
      handle: async () =>
        Object.entries(ROLE_PERMISSIONS).map(([role, permissions]) => ({ role, permissions })),
    }),
    route({
      method: 'get',
      path: '/',
      operationId: 'listRoleAssignments',
      response: pageOf(assignment),
      summary: 'List role assignments',
      access: 'read',
      query: pageQuery.extend({ role: z.enum(ROLES).optional(), principal: z.string().max(1024).optional() }),
      handle: ({ query }) => listPage(pool, roleAssignmentList, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createRoleAssignment',
      response: assignment,
      summary: 'Grant a role to a directory user or group (only a role you hold, unless Administrator)',
      access: 'roles.write',
      body: assignmentBody,
      status: 201,
      handle: async ({ body, caller, auditObject }) => {
        await mayGrantNow(caller, body.role);
        const id = randomUUID();
        auditObject(id);
        await insertRoleAssignment(pool, { id, ...body });
        return findOr404(pool, roleAssignmentList, id, 'Role assignment');
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'deleteRoleAssignment',
      summary: 'Revoke a role assignment (takes effect on the next request)',
      access: 'roles.write',
      params: idParams,
      handle: async ({ params, caller }) => {
        const role = await roleOfAssignment<Role>(pool, params.id);
        if (role === undefined) throw notFound('Role assignment', params.id);
        await mayGrantNow(caller, role);
        await deleteRoleAssignment(pool, params.id);
      },
    }),
  ]);
}

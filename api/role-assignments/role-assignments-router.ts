import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { listPage, pageQuery, type ListDefinition } from '../../db/list-page';
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

const assignmentsView: ListDefinition<object> = {
  select: `SELECT id, role, principal_type AS "principalType", principal, created_at AS "createdAt"
             FROM role_assignments`,
  filters: {
    role: { column: 'role', op: 'equals' },
    principal: { column: 'principal', op: 'contains' },
  },
  orderBy: 'role, principal',
};

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
      handle: ({ query }) => listPage(pool, assignmentsView, query),
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
        await pool.query(
          'INSERT INTO role_assignments (id, role, principal_type, principal) VALUES ($1, $2, $3, $4)',
          [id, body.role, body.principalType, body.principal],
        );
        return findOr404(pool, assignmentsView, id, 'Role assignment');
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
        const { rows } = await pool.query<{ role: Role }>('SELECT role FROM role_assignments WHERE id = $1', [
          params.id,
        ]);
        if (rows.length === 0) throw notFound('Role assignment', params.id);
        await mayGrantNow(caller, rows[0].role);
        await pool.query('DELETE FROM role_assignments WHERE id = $1', [params.id]);
      },
    }),
  ]);
}

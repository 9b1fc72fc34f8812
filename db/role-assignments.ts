import type { Pool } from 'pg';
import type { ListDefinition } from './list-page';

/** Which directory users and groups (by DN) hold which roles; `R` is the API's role names. */
export interface NewRoleAssignment<R extends string> {
  id: string;
  role: R;
  principalType: 'user' | 'group';
  principal: string;
}

/** The roles a user DN holds directly or through any of its groups; DNs compare case-insensitively. */
export async function rolesHeldBy<R extends string>(pool: Pool, dn: string, groups: string[]): Promise<R[]> {
  const { rows } = await pool.query<{ role: R }>(
    `SELECT DISTINCT role FROM role_assignments
      WHERE (principal_type = 'user' AND lower(principal) = lower($1))
         OR (principal_type = 'group' AND lower(principal) = ANY ($2::text[]))
      ORDER BY role`,
    [dn, groups.map((g) => g.toLowerCase())],
  );
  return rows.map((r) => r.role);
}

export async function insertRoleAssignment<R extends string>(
  pool: Pool,
  a: NewRoleAssignment<R>,
): Promise<void> {
  await pool.query(
    'INSERT INTO role_assignments (id, role, principal_type, principal) VALUES ($1, $2, $3, $4)',
    [a.id, a.role, a.principalType, a.principal],
  );
}

/** The role an assignment grants, or undefined when there is no such assignment. */
export async function roleOfAssignment<R extends string>(pool: Pool, id: string): Promise<R | undefined> {
  const { rows } = await pool.query<{ role: R }>('SELECT role FROM role_assignments WHERE id = $1', [id]);
  return rows[0]?.role;
}

export async function deleteRoleAssignment(pool: Pool, id: string): Promise<void> {
  await pool.query('DELETE FROM role_assignments WHERE id = $1', [id]);
}

export const roleAssignmentList: ListDefinition<object> = {
  select: `SELECT id, role, principal_type AS "principalType", principal, created_at AS "createdAt"
             FROM role_assignments`,
  filters: {
    role: { column: 'role', op: 'equals' },
    principal: { column: 'principal', op: 'contains' },
  },
  orderBy: 'role, principal',
};

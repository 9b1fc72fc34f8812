import { HttpProblem } from './problem';

/** Who still uses an object, by kind: `{ 'image template': ['Win11 Sales'], layer: [] }`. */
export type Users = Record<string, string[]>;

/**
 * Refuses to delete something still in use, naming every user (App Layering's wording), with the same
 * lists machine-readable in `usedBy`. Passes silently when nothing uses it.
 */
export function refuseIfInUse(what: string, name: string, users: Users): void {
  const named = Object.entries(users).flatMap(([kind, names]) => names.map((n) => `${kind} '${n}'`));
  if (named.length === 0) return;
  throw new HttpProblem({
    title: `${what} in use`,
    status: 409,
    detail: `Unable to delete ${what.toLowerCase()} '${name}' as it is in use by ${named.join(', ')}. Remove it from them first.`,
    usedBy: users,
  });
}

/** Image templates and elastic assignments that use any of the given layer versions. */
export const VERSION_USERS_SQL = `
  SELECT array(SELECT t.name FROM image_templates t
                WHERE t.os_version_id = ANY ($1::uuid[]) OR t.platform_version_id = ANY ($1::uuid[])
                   OR EXISTS (SELECT 1 FROM image_template_app_versions a
                               WHERE a.template_id = t.id AND a.version_id = ANY ($1::uuid[]))
                ORDER BY t.name) AS templates,
         array(SELECT e.id::text FROM elastic_assignments e
                WHERE e.layer_version_id = ANY ($1::uuid[]) ORDER BY e.id) AS "elasticAssignments"`;

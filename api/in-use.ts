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

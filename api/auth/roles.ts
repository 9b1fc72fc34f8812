import { HttpProblem } from '../problem';

/**
 * Roles are App Layering's set (ARCHITECTURE.md §3); permissions are what routes declare. A route names
 * exactly one permission; a role is the permissions it grants.
 */
export const PERMISSIONS = [
  'read',
  'layers.write',
  'layers.os.write',
  'layers.app.write',
  'layers.platform.write',
  'layers.import',
  'layers.export',
  'templates.write',
  'images.publish',
  'images.port',
  'elastic.write',
  'tasks.control',
  // Reading task payloads in clear text (the Temporal Web UI's codec endpoint): Administrator only.
  'tasks.decode',
  'connectors.write',
  'storage.write',
  'directory.write',
  'roles.write',
  'audit.read',
  'diagnostics.run',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Route-level access that is not a permission: open to anyone, or to anyone signed in (even without a role). */
export type Access = Permission | 'public' | 'signed-in';

export const ROLE_PERMISSIONS = {
  Reader: ['read'],
  'OS Layer Contributor': ['read', 'layers.write', 'layers.os.write', 'tasks.control'],
  'App Layer Contributor': ['read', 'layers.write', 'layers.app.write', 'tasks.control'],
  'Platform Layer Contributor': ['read', 'layers.write', 'layers.platform.write', 'tasks.control'],
  'Image Template Contributor': ['read', 'templates.write', 'tasks.control'],
  'Image Publisher': ['read', 'images.publish', 'tasks.control'],
  'Elastic Layer Assignment Contributor': ['read', 'elastic.write', 'tasks.control'],
  'Layer Importer': ['read', 'layers.import', 'tasks.control'],
  'Layer Exporter': ['read', 'layers.export', 'tasks.control'],
  'Image Porter': ['read', 'images.port', 'tasks.control'],
  Administrator: PERMISSIONS,
} as const satisfies Record<string, readonly Permission[]>;

export type Role = keyof typeof ROLE_PERMISSIONS;
export const ROLES = Object.keys(ROLE_PERMISSIONS) as [Role, ...Role[]];

export function hasPermission(roles: readonly Role[], permission: Permission): boolean {
  return roles.some((role) => (ROLE_PERMISSIONS[role] as readonly Permission[]).includes(permission));
}

/**
 * Whether `roles` may grant or revoke `role`: only a role one holds, so nobody hands out rights beyond
 * their own; an Administrator holds every permission and may grant anything.
 */
export function mayGrant(roles: readonly Role[], role: Role): boolean {
  return roles.includes('Administrator') || roles.includes(role);
}

export function grantRefused(roles: readonly Role[], role: Role): HttpProblem {
  return new HttpProblem({
    title: 'Permission denied',
    status: 403,
    detail: `Granting or revoking the role '${role}' needs that role (or Administrator), which you (${roles.join(', ') || 'no role'}) do not hold.`,
  });
}

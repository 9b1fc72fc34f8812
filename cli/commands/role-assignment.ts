import { UsageError } from '../command';
import { resourceCommand } from '../resource-command';

interface RoleAssignmentView {
  id: string;
  role: string;
  principalType: 'user' | 'group';
  principal: string;
}

/** `lamina role`: the console's Roles page, which directory users and groups hold which roles. */
export const roleCommand = resourceCommand<RoleAssignmentView>({
  command: 'role',
  noun: 'role assignment',
  path: '/api/role-assignments',
  deletable: true,
  line: (r) => `${r.id}  ${r.role.padEnd(36)}  ${r.principalType.padEnd(5)}  ${r.principal}`,
  about: `Role assignments: App Layering's roles granted to directory users and groups by distinguished
name. Only a role you hold (or Administrator) can be granted or revoked. roles lists the roles and
what each permits; delete revokes an assignment.`,
  actions: {
    grant: {
      usage: 'grant --role ROLE (--user DN | --group DN) [--json]',
      options: { role: 'value', user: 'value', group: 'value' },
      async run({ api, options, print }) {
        const [principalType] = (['user', 'group'] as const).filter((k) => options.values.has(k));
        if (!principalType || (options.values.has('user') && options.values.has('group')))
          throw new UsageError('grant takes one of --user DN and --group DN');
        print(
          await api.post<RoleAssignmentView>('/api/role-assignments', {
            role: options.values.get('role'),
            principalType,
            principal: options.values.get(principalType),
          }),
        );
        return 0;
      },
    },
    roles: {
      usage: 'roles [--json]',
      async run({ api, json }) {
        const roles = await api.get<{ role: string; permissions: string[] }[]>('/api/role-assignments/roles');
        if (json) console.log(JSON.stringify(roles, null, 2));
        else for (const r of roles) console.log(`${r.role.padEnd(36)}  ${r.permissions.join(', ')}`);
        return 0;
      },
    },
  },
});

import type { ParsedOptions } from '../options';
import { fieldsOf, resourceCommand } from '../resource-command';

interface AssignmentView {
  id: string;
  layerVersionId: string;
  users: string[];
  groups: string[];
  machinePatterns: string[];
}

const EDIT_OPTIONS = { version: 'value', user: 'list', group: 'list', machine: 'list' } as const;

function assignmentBody(options: ParsedOptions): Record<string, unknown> {
  const body = fieldsOf(options, { version: 'layerVersionId' });
  for (const [flag, field] of [
    ['user', 'users'],
    ['group', 'groups'],
    ['machine', 'machinePatterns'],
  ]) {
    const values = options.lists.get(flag);
    if (values) body[field] = values;
  }
  return body;
}

/** `lamina elastic assignment`: the console's Elastic assignments. */
export const elasticAssignmentCommand = resourceCommand<AssignmentView>({
  command: 'elastic assignment',
  noun: 'elastic assignment',
  path: '/api/elastic-assignments',
  deletable: true,
  filters: { version: 'layerVersionId' },
  line: (a) =>
    `${a.id}  version ${a.layerVersionId}  users: ${a.users.join('; ') || '-'}  groups: ${a.groups.join('; ') || '-'}  machines: ${a.machinePatterns.join('; ') || '-'}`,
  about: `Elastic assignments: an app layer version delivered at logon to users and groups (DOMAIN\\name or
name@domain, looked up in their domain's directory junction) and to machines whose names match a pattern
(VDI-SALES-*). --user, --group and --machine take one each and may repeat; update replaces the lists it
is given. A version whose elastic fit is unfit is refused with its reasons.`,
  actions: {
    create: {
      usage: 'create --version VERSION-ID [--user NAME]... [--group NAME]... [--machine PATTERN]... [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, print }) {
        print(await api.post<AssignmentView>('/api/elastic-assignments', assignmentBody(options)));
        return 0;
      },
    },
    update: {
      usage:
        'update ID [--version VERSION-ID] [--user NAME]... [--group NAME]... [--machine PATTERN]... [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, target, print }) {
        const assignment = await target();
        print(
          await api.patch<AssignmentView>(
            `/api/elastic-assignments/${assignment.id}`,
            assignmentBody(options),
          ),
        );
        return 0;
      },
    },
  },
});

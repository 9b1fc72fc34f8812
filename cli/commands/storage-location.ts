import type { ParsedOptions } from '../options';
import { fieldsOf, resourceCommand, wholeNumber } from '../resource-command';

interface StorageLocationView {
  id: string;
  name: string;
  sharePath: string;
  adGroups: string[];
  priority: number;
}

const EDIT_OPTIONS = { name: 'value', share: 'value', group: 'list', priority: 'value' } as const;

function locationBody(options: ParsedOptions): Record<string, unknown> {
  const priority = wholeNumber(options, 'priority');
  const groups = options.lists.get('group');
  return {
    ...fieldsOf(options, { name: 'name', share: 'sharePath' }),
    ...(groups ? { adGroups: groups } : {}),
    ...(priority === undefined ? {} : { priority }),
  };
}

/** `lamina user-layer location`: the console's User layer storage page. */
export const storageLocationCommand = resourceCommand<StorageLocationView>({
  command: 'user-layer location',
  noun: 'storage location',
  path: '/api/storage-locations',
  named: true,
  deletable: true,
  line: (s) =>
    `${s.id}  ${s.name}  ${s.sharePath}  priority ${s.priority}  ${s.adGroups.join('; ') || 'everyone'}`,
  about: `User layer storage locations: a share per set of AD groups (--group DOMAIN\\group or a DN, one each;
none: every user), looked up in the directory when saved (an unknown group is refused). At logon the
matching location with the lowest priority number holds the user's layer; numbers are unique.`,
  actions: {
    create: {
      usage: 'create --name NAME --share \\\\SERVER\\SHARE\\FOLDER --priority N [--group GROUP]... [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, print }) {
        print(await api.post<StorageLocationView>('/api/storage-locations', locationBody(options)));
        return 0;
      },
    },
    update: {
      usage: 'update LOCATION [--name NAME] [--share PATH] [--priority N] [--group GROUP]... [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, target, print }) {
        const location = await target();
        print(
          await api.patch<StorageLocationView>(
            `/api/storage-locations/${location.id}`,
            locationBody(options),
          ),
        );
        return 0;
      },
    },
  },
});

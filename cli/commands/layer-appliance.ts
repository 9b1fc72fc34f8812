import type { Task } from '../../api/tasks/task-service';
import { UsageError } from '../command';
import type { ParsedOptions } from '../options';
import { fieldsOf, resourceCommand, type Api } from '../resource-command';
import { followTask, printTask } from './task-follow';

interface LayerView {
  id: string;
  type: string;
  name: string;
  osLayerName: string | null;
  versionCount: number;
}

interface VersionView {
  id: string;
  version: string;
  state: string;
  sizeBytes: number | null;
  sha256: string | null;
  action: { vm: { name: string }; instructions: string } | null;
}

/** An upload of the file a flag names (POST /api/uploads), or nothing when the flag is not given. */
async function uploaded(api: Api, options: ParsedOptions, flag: string): Promise<Record<string, string>> {
  const file = options.values.get(flag);
  return file === undefined ? {} : { [flag]: await api.upload(file) };
}

/**
 * The task that makes a new version, from the flags: the console's Add version dialog's three ways —
 * import a VM disk (OS layers), build from a zip and .reg (layer-as-code), or a packaging machine.
 */
async function versionTask(api: Api, options: ParsedOptions): Promise<{ route: string; body: object }> {
  const version = options.values.get('version');
  if (!version) throw new UsageError('add-version needs --version');
  const common = { version, ...fieldsOf(options, { description: 'description' }) };
  const ways = ['disk', 'vm', 'zip', 'package-on'].filter((w) => options.values.has(w));
  if (ways.length !== 1)
    throw new UsageError('add-version takes one of --disk, --connector with --vm, --zip, --package-on');
  switch (ways[0]) {
    case 'disk':
      return { route: 'import', body: { ...common, source: { diskPath: options.values.get('disk') } } };
    case 'vm': {
      const connectorId = options.values.get('connector');
      if (!connectorId) throw new UsageError('--vm needs --connector');
      return {
        route: 'import',
        body: { ...common, source: { connectorId, vmId: options.values.get('vm') } },
      };
    }
    case 'zip': {
      const { zip: content, ...files } = {
        ...(await uploaded(api, options, 'zip')),
        ...(await uploaded(api, options, 'reg')),
        ...(await uploaded(api, options, 'deletions')),
        ...(await uploaded(api, options, 'scripts')),
      };
      return { route: 'build', body: { ...common, content, ...files } };
    }
    default: {
      const prerequisites = options.lists.get('prerequisite');
      return {
        route: 'package',
        body: {
          ...common,
          connectorId: options.values.get('package-on'),
          ...(prerequisites ? { prerequisiteVersionIds: prerequisites } : {}),
          ...(await uploaded(api, options, 'scripts')),
        },
      };
    }
  }
}

function versionLine(v: VersionView): string {
  const facts = [v.sizeBytes === null ? undefined : `${v.sizeBytes} bytes`, v.sha256?.slice(0, 12)];
  return `${v.id}  ${v.version.padEnd(8)}  ${v.state.padEnd(14)}  ${facts.filter(Boolean).join('  ')}`;
}

/** `lamina layer list|get|create|update|delete|versions|add-version|delete-version`: the console's Layers pages. */
export const applianceLayerCommand = resourceCommand<LayerView>({
  command: 'layer',
  noun: 'layer',
  path: '/api/layers',
  named: true,
  deletable: true,
  filters: { type: 'type', name: 'name' },
  line: (l) =>
    `${l.id}  ${l.type.padEnd(8)}  ${l.name}${l.osLayerName ? `  (on ${l.osLayerName})` : ''}  ${l.versionCount} version(s)`,
  about: `The running appliance's layers (/api/layers), as the console's Layers pages show them. LAYER is a
layer's id or exact name. add-version starts the task that makes a version, one of three ways: --disk
PATH (an OS layer from a disk in an import folder) or --connector ID --vm VM (from a VM), --zip FILE
[--reg FILE] [--deletions FILE] [--scripts ZIP] (an app or platform layer from its files, uploaded),
or --package-on CONNECTOR [--prerequisite VERSION]... (a packaging machine: the version waits as
ActionRequired, and versions shows the machine and what to do). --wait follows the task to its end (a
progress bar on a terminal) and exits 0 only when the version was made. delete refuses a layer still in
use, naming what uses it.`,
  actions: {
    create: {
      usage: 'create --type os|app|platform --name NAME [--os-layer LAYER-ID] [--description TEXT] [--json]',
      options: { type: 'value', name: 'value', 'os-layer': 'value', description: 'value' },
      async run({ api, options, print }) {
        print(
          await api.post<LayerView>(
            '/api/layers',
            fieldsOf(options, {
              type: 'type',
              name: 'name',
              'os-layer': 'osLayerId',
              description: 'description',
            }),
          ),
        );
        return 0;
      },
    },
    update: {
      usage: 'update LAYER [--name NAME] [--description TEXT] [--json]',
      options: { name: 'value', description: 'value' },
      async run({ api, options, target, print }) {
        const layer = await target();
        print(
          await api.patch<LayerView>(
            `/api/layers/${layer.id}`,
            fieldsOf(options, { name: 'name', description: 'description' }),
          ),
        );
        return 0;
      },
    },
    versions: {
      usage: 'versions LAYER [--json]',
      async run({ api, json, target }) {
        const layer = await target();
        const page = await api.get<{ items: VersionView[] }>(`/api/layers/${layer.id}/versions?pageSize=200`);
        if (json) console.log(JSON.stringify(page.items, null, 2));
        else
          for (const v of page.items) {
            console.log(versionLine(v));
            if (v.action) console.log(`  on ${v.action.vm.name}: ${v.action.instructions}`);
          }
        return 0;
      },
    },
    'add-version': {
      usage:
        'add-version LAYER --version V (--disk PATH | --connector ID --vm VM | --zip FILE [--reg FILE] [--deletions FILE] [--scripts ZIP] | --package-on CONNECTOR [--prerequisite VERSION]...) [--description TEXT] [--wait] [--json]',
      options: {
        version: 'value',
        description: 'value',
        disk: 'value',
        connector: 'value',
        vm: 'value',
        zip: 'value',
        reg: 'value',
        deletions: 'value',
        scripts: 'value',
        'package-on': 'value',
        prerequisite: 'list',
        wait: 'flag',
      },
      async run({ api, options, json, target }) {
        const layer = await target();
        const { route, body } = await versionTask(api, options);
        const started = await api.post<Task>(`/api/layers/${layer.id}/versions/${route}`, body);
        return printTask(options.flags.has('wait') ? await followTask(api, started.id) : started, json);
      },
    },
    'delete-version': {
      usage: 'delete-version LAYER VERSION-ID',
      async run({ api, options, target }) {
        const layer = await target();
        const versionId = options.positional[1];
        if (!versionId) throw new UsageError('delete-version takes a layer and a version id');
        await api.delete(`/api/layers/${layer.id}/versions/${encodeURIComponent(versionId)}`);
        console.log(`deleted version ${versionId} of ${layer.id}`);
        return 0;
      },
    },
  },
});

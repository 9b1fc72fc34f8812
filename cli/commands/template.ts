import type { Task } from '../../api/tasks/task-service';
import { UsageError } from '../command';
import type { ParsedOptions } from '../options';
import { fieldsOf, resourceCommand, wholeNumber } from '../resource-command';
import { followTask, printTask } from './task-follow';

interface TemplateView {
  id: string;
  name: string;
  diskSizeGb: number;
  diskFormat: string;
  firmware: string;
  warnings?: { field: string; message: string }[];
}

interface Conflict {
  path?: string;
  key?: string;
  valueName?: string;
  winner: string;
  losers: string[];
}

const EDIT_OPTIONS = {
  name: 'value',
  description: 'value',
  os: 'value',
  platform: 'value',
  app: 'list',
  connector: 'value',
  'size-gb': 'value',
  format: 'value',
  firmware: 'value',
  elastic: 'value',
  'user-layer': 'value',
  sysprep: 'value',
} as const;

/** The template fields the flags give (an edit sends only those). */
function templateBody(options: ParsedOptions): Record<string, unknown> {
  const body = fieldsOf(options, {
    name: 'name',
    description: 'description',
    os: 'osVersionId',
    platform: 'platformVersionId',
    connector: 'connectorId',
    format: 'diskFormat',
    firmware: 'firmware',
    elastic: 'elasticLayering',
    'user-layer': 'userLayer',
    sysprep: 'sysprep',
  });
  const apps = options.lists.get('app');
  if (apps) body.appVersionIds = apps;
  const size = wholeNumber(options, 'size-gb');
  if (size !== undefined) body.diskSizeGb = size;
  return body;
}

/** The template as a line, and what it may hold but deserves a look (a version made on another OS version). */
function printSaved(template: TemplateView, json: boolean): number {
  if (json) console.log(JSON.stringify(template, null, 2));
  else {
    console.log(line(template));
    for (const w of template.warnings ?? []) console.log(`  warning: ${w.field}: ${w.message}`);
  }
  return 0;
}

const line = (t: TemplateView) => `${t.id}  ${t.name}  (${t.diskSizeGb} GB ${t.diskFormat}, ${t.firmware})`;

/** `lamina template`: the console's Templates page and an image's conflict report. */
export const templateCommand = resourceCommand<TemplateView>({
  command: 'template',
  noun: 'template',
  path: '/api/templates',
  named: true,
  deletable: true,
  filters: { name: 'name' },
  line,
  about: `Image templates of the running appliance, as the console's Templates page shows them. TEMPLATE is a
template's id or its exact name; layer versions are named by id (lamina layer versions LAYER). create and
update take the wizard's choices: --os (OS layer version), --platform, --app (one each, any order:
priority comes from the layers), --connector, --size-gb, --format VHD|VHDX|VMDK, --firmware BIOS|UEFI,
--elastic none|app|app_and_user, --user-layer none|full|office365|session_office365, --sysprep; update sends only the flags given. publish
starts the publish task (POST /api/templates/:id/publish) and prints it; with --wait it follows the task
to its end (a progress bar on a terminal) and exits 0 only when the image was published. conflicts
prints a published image's conflict report: each file or registry value more than one layer provides,
those layers (lowest priority first) and the winner. Deleting a template keeps its published images.`,
  actions: {
    create: {
      usage:
        'create --name NAME --os VERSION [--platform VERSION] [--app VERSION]... --connector ID --size-gb N --format F --firmware F [--elastic M] [--user-layer M] [--sysprep M] [--description TEXT] [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, json }) {
        return printSaved(await api.post<TemplateView>('/api/templates', templateBody(options)), json);
      },
    },
    update: {
      usage: 'update TEMPLATE [the create flags to change] [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, json, target }) {
        const template = await target();
        return printSaved(
          await api.patch<TemplateView>(`/api/templates/${template.id}`, templateBody(options)),
          json,
        );
      },
    },
    publish: {
      usage: 'publish TEMPLATE [--wait] [--json]',
      options: { wait: 'flag' },
      async run({ api, options, json, target }) {
        if (options.positional.length !== 1) throw new UsageError('publish takes one template');
        const template = await target();
        const task = await api.post<Task>(`/api/templates/${template.id}/publish`, {});
        return printTask(options.flags.has('wait') ? await followTask(api, task.id) : task, json);
      },
    },
    clone: {
      usage: 'clone TEMPLATE NAME [--json]',
      async run({ api, options, target, print }) {
        if (options.positional.length !== 2) throw new UsageError('clone takes a template and the new name');
        const template = await target();
        print(
          await api.post<TemplateView>(`/api/templates/${template.id}/clone`, {
            name: options.positional[1],
          }),
        );
        return 0;
      },
    },
    conflicts: {
      usage: 'conflicts IMAGE [--json]',
      async run({ api, options, json }) {
        if (options.positional.length !== 1) throw new UsageError('conflicts takes one image id');
        const image = await api.get<{ conflictReport: { files?: Conflict[]; registry?: Conflict[] } | null }>(
          `/api/images/${encodeURIComponent(options.positional[0])}`,
        );
        const report = image.conflictReport ?? {};
        if (json) console.log(JSON.stringify(report, null, 2));
        else {
          for (const c of report.files ?? [])
            console.log(`file      ${c.path}  ${[...c.losers, c.winner].join(' -> ')}  winner: ${c.winner}`);
          for (const c of report.registry ?? [])
            console.log(
              `registry  ${c.key}\\${c.valueName || '(Default)'}  ${[...c.losers, c.winner].join(' -> ')}  winner: ${c.winner}`,
            );
        }
        return 0;
      },
    },
  },
});

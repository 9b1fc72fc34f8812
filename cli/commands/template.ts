import type { Task } from '../../api/tasks/task-service';
import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions } from '../options';
import { followTask, printTask } from './task-follow';

const usage = `Usage:
  lamina template list [--name TEXT] [--json]
  lamina template publish TEMPLATE [--wait] [--json]
  lamina template clone TEMPLATE NAME [--json]
  lamina template conflicts IMAGE [--json]

Image templates of the running appliance, as the console's Templates page shows them. TEMPLATE is a
template's id or its exact name. publish starts the publish task (POST /api/templates/:id/publish) and
prints it; with --wait it follows the task to its end (a progress bar on a terminal) and exits 0 only
when the image was published. conflicts prints a published image's conflict report: each file or
registry value more than one layer provides, those layers (lowest priority first) and the winner.
${API_OPTION_HELP}`;

interface TemplateView {
  id: string;
  name: string;
  diskSizeGb: number;
  diskFormat: string;
  firmware: string;
}

interface Conflict {
  path?: string;
  key?: string;
  valueName?: string;
  winner: string;
  losers: string[];
}

type Api = ReturnType<typeof applianceApi>;

/** A template named by id or by its exact name; an unknown one is a usage error naming it. */
async function findTemplate(api: Api, idOrName: string): Promise<TemplateView> {
  const page = await api.get<{ items: TemplateView[] }>(
    `/api/templates?pageSize=200&name=${encodeURIComponent(idOrName)}`,
  );
  const byName = page.items.find((t) => t.name === idOrName);
  if (byName) return byName;
  if (/^[0-9a-f-]{36}$/i.test(idOrName)) return api.get<TemplateView>(`/api/templates/${idOrName}`);
  throw new UsageError(`no template is named '${idOrName}'`);
}

export const templateCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    const options = parseOptions(rest, { name: 'value', json: 'flag', wait: 'flag', api: 'value' });
    const json = options.flags.has('json');
    const api = applianceApi(options);
    const [first, second] = options.positional;
    switch (sub) {
      case 'list': {
        const name = options.values.get('name');
        const page = await api.get<{ items: TemplateView[] }>(
          `/api/templates?pageSize=200${name ? `&name=${encodeURIComponent(name)}` : ''}`,
        );
        if (json) console.log(JSON.stringify(page.items, null, 2));
        else
          for (const t of page.items)
            console.log(`${t.id}  ${t.name}  (${t.diskSizeGb} GB ${t.diskFormat}, ${t.firmware})`);
        return 0;
      }
      case 'publish': {
        if (options.positional.length !== 1) throw new UsageError(`publish takes one template\n\n${usage}`);
        const template = await findTemplate(api, first);
        const task = await api.post<Task>(`/api/templates/${template.id}/publish`, {});
        return printTask(options.flags.has('wait') ? await followTask(api, task.id) : task, json);
      }
      case 'clone': {
        if (options.positional.length !== 2)
          throw new UsageError(`clone takes a template and the new name\n\n${usage}`);
        const template = await findTemplate(api, first);
        const copy = await api.post<TemplateView>(`/api/templates/${template.id}/clone`, { name: second });
        console.log(json ? JSON.stringify(copy, null, 2) : `${copy.id}  ${copy.name}`);
        return 0;
      }
      case 'conflicts': {
        if (options.positional.length !== 1) throw new UsageError(`conflicts takes one image id\n\n${usage}`);
        const image = await api.get<{ conflictReport: { files?: Conflict[]; registry?: Conflict[] } | null }>(
          `/api/images/${encodeURIComponent(first)}`,
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
      }
      default:
        throw new UsageError(`unknown template command ${sub ?? '(none)'}\n\n${usage}`);
    }
  },
};

import type { Task } from '../../api/tasks/task-service';
import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions, required } from '../options';
import { followTask, printTask } from './task-follow';

const usage = `Usage:
  lamina layer-transfer export --mount-point DIR --folder NAME --version ID [--version ID…] [--wait] [--json]
      Export layer versions (OS layers first, then in creation order) into DIR/NAME: their disks and
      manifest.json with each one's name, type, version, OS binding, creation sequence, size and SHA-256.
  lamina layer-transfer import --mount-point DIR --folder NAME [--wait] [--json]
      Import an export: every hash is checked first; versions this appliance has are skipped; layers
      keep their identities, OS bindings and priority order.
  One transfer runs at a time. DIR is where the appliance has the transfer share mounted. Each starts the
  transfer's task and prints it; --wait follows it to its end (a progress bar on a terminal) and prints
  what was transferred and skipped, exiting 0 only when it completed; --json prints the task as JSON.
${API_OPTION_HELP}`;

export const layerTransferCommand: CliCommand = {
  usage,
  async run(args) {
    const [action, ...rest] = args;
    if (action !== 'export' && action !== 'import')
      throw new UsageError(`unknown action '${action ?? ''}'\n${usage}`);
    const options = parseOptions(rest, {
      'mount-point': 'value',
      folder: 'value',
      version: 'list',
      api: 'value',
      wait: 'flag',
      json: 'flag',
    });
    const json = options.flags.has('json');
    const where = { mountPoint: required(options, 'mount-point'), folder: required(options, 'folder') };
    const versionIds = options.lists.get('version') ?? [];
    if (action === 'export' && versionIds.length === 0)
      throw new UsageError('name the versions to export with --version');
    const api = applianceApi(options);
    const started = await api.post<Task>(
      `/api/layer-transfers/${action}`,
      action === 'export' ? { ...where, versionIds } : where,
    );
    if (!options.flags.has('wait')) return printTask(started, json);
    const task = await followTask(api, started.id);
    if (json || task.state !== 'completed') return printTask(task, json);
    const result = task.result as { transferred: string[]; skipped: string[] };
    for (const line of result.transferred) console.log(`${action}ed ${line}`);
    for (const line of result.skipped) console.log(`skipped ${line} (already here)`);
    return 0;
  },
};

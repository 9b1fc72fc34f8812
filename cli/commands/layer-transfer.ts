import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions, required } from '../options';

const usage = `Usage:
  lamina layer-transfer export --mount-point DIR --folder NAME --version ID [--version ID…] [--api URL]
      Export layer versions (OS layers first, then in creation order) into DIR/NAME: their disks and
      manifest.json with each one's name, type, version, OS binding, creation sequence, size and SHA-256.
  lamina layer-transfer import --mount-point DIR --folder NAME [--api URL]
      Import an export: every hash is checked first; versions this appliance has are skipped; layers
      keep their identities, OS bindings and priority order.
  One transfer runs at a time. DIR is where the appliance has the transfer share mounted.
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
    });
    const where = { mountPoint: required(options, 'mount-point'), folder: required(options, 'folder') };
    const versionIds = options.lists.get('version') ?? [];
    if (action === 'export' && versionIds.length === 0)
      throw new UsageError('name the versions to export with --version');
    const api = applianceApi(options);
    const started = await api.post<{ id: string }>(
      `/api/layer-transfers/${action}`,
      action === 'export' ? { ...where, versionIds } : where,
    );
    const task = await api.waitForTask(started.id);
    if (task.state !== 'completed') {
      console.error(`${action} ${task.state}: ${task.error ?? ''}`);
      return 1;
    }
    const result = task.result as { transferred: string[]; skipped: string[] };
    for (const line of result.transferred) console.log(`${action}ed ${line}`);
    for (const line of result.skipped) console.log(`skipped ${line} (already here)`);
    return 0;
  },
};

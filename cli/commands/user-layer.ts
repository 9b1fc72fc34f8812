import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions, required } from '../options';
import { storageLocationCommand } from './storage-location';

const usage = `Usage:
  lamina user-layer resolve --user DOMAIN\\name --os-layer NAME [--api URL]
      Where the user's layer for the OS layer is (made at their first logon): the storage location
      of their highest-priority group (System > Storage Locations), as
      \\\\server\\share\\Users\\DOMAIN_name\\<OS layer id>_<OS layer name>.
${API_OPTION_HELP}

Storage locations:
${storageLocationCommand.usage.replace(/^Usage:\n/, '')}`;

export const userLayerCommand: CliCommand = {
  usage,
  async run(args) {
    const [action, ...rest] = args;
    if (action === 'location') return storageLocationCommand.run(rest);
    if (action !== 'resolve') throw new UsageError(`unknown action '${action ?? ''}'\n${usage}`);
    const options = parseOptions(rest, { user: 'value', 'os-layer': 'value', api: 'value' });
    const query = new URLSearchParams({
      user: required(options, 'user'),
      osLayer: required(options, 'os-layer'),
    });
    const resolved = await applianceApi(options).get<{
      user: { name: string; sid: string };
      location: { name: string; priority: number };
      path: string;
      defaultSizeGb: number;
    }>(`/api/storage-locations/resolve?${query}`);
    console.log(resolved.path);
    console.log(
      `  ${resolved.user.name} (${resolved.user.sid}): storage location '${resolved.location.name}' (priority ${resolved.location.priority}), up to ${resolved.defaultSizeGb} GB unless the share's quota says otherwise`,
    );
    return 0;
  },
};

import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions } from '../options';

const usage = `Usage:
  lamina connector list [--type TYPE] [--json]

The running appliance's connector configurations (GET /api/connectors), as Get-ALConnector lists
them: id, type and name, the ids Image Portability commands take. Secrets are never shown.
${API_OPTION_HELP}`;

interface ConnectorView {
  id: string;
  type: string;
  name: string;
}

export const connectorCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub !== 'list') throw new UsageError(`unknown connector command ${sub ?? '(none)'}\n\n${usage}`);
    const options = parseOptions(rest, { type: 'value', json: 'flag', api: 'value' });
    const type = options.values.get('type');
    const page = await applianceApi(options).get<{ items: ConnectorView[] }>(
      `/api/connectors?pageSize=200${type ? `&type=${encodeURIComponent(type)}` : ''}`,
    );
    if (options.flags.has('json')) console.log(JSON.stringify(page.items, null, 2));
    else for (const c of page.items) console.log(`${c.id}  ${c.type.padEnd(10)}  ${c.name}`);
    return 0;
  },
};

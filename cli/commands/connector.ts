import fs from 'node:fs/promises';
import type { Task } from '../../api/tasks/task-service';
import { UsageError } from '../command';
import type { OptionKinds, ParsedOptions } from '../options';
import { keyValues, resourceCommand, wholeNumber } from '../resource-command';
import { followTask, printTask } from './task-follow';

interface ConnectorView {
  id: string;
  type: string;
  name: string;
  offloadCompositing: boolean;
  packagingCacheGb: number;
  settings: Record<string, unknown>;
  secretsSet: Record<string, boolean>;
}

interface TestReport {
  ok: boolean;
  checks: { field?: string; ok: boolean; message: string }[];
}

const EDIT_OPTIONS: OptionKinds = {
  name: 'value',
  setting: 'list',
  secret: 'list',
  offload: 'value',
  'cache-gb': 'value',
  'post-publish-script': 'value',
};

/**
 * The body of a create or an edit from its flags. A secret is named as FIELD=ENV_VAR and read from that
 * environment variable, so it never shows in a process list or a shell history.
 */
async function connectorBody(options: ParsedOptions): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  const name = options.values.get('name');
  if (name !== undefined) body.name = name;
  const settings = options.lists.get('setting');
  if (settings) body.settings = keyValues(settings, 'setting');
  const secrets = options.lists.get('secret');
  if (secrets) {
    body.secrets = Object.fromEntries(
      secrets.map((pair) => {
        const [field, variable] = pair.split('=');
        const value = variable ? process.env[variable] : undefined;
        if (!field || !variable) throw new UsageError(`--secret takes FIELD=ENV_VAR, not '${pair}'`);
        if (value === undefined) throw new UsageError(`--secret ${field}: ${variable} is not set`);
        return [field, value];
      }),
    );
  }
  const offload = options.values.get('offload');
  if (offload !== undefined) {
    if (offload !== 'on' && offload !== 'off') throw new UsageError('--offload takes on or off');
    body.offloadCompositing = offload === 'on';
  }
  const cacheGb = wholeNumber(options, 'cache-gb');
  if (cacheGb !== undefined) body.packagingCacheGb = cacheGb;
  const script = options.values.get('post-publish-script');
  if (script !== undefined) body.postPublishScript = await fs.readFile(script, 'utf8');
  return body;
}

const line = (c: ConnectorView) =>
  `${c.id}  ${c.type.padEnd(10)}  ${c.name}${c.offloadCompositing ? '  (offload compositing)' : ''}`;

/** `lamina connector`: the console's Connectors page (Get-ALConnector and friends). */
export const connectorCommand = resourceCommand<ConnectorView>({
  command: 'connector',
  noun: 'connector configuration',
  path: '/api/connectors',
  named: true,
  deletable: true,
  filters: { type: 'type', name: 'name' },
  line,
  about: `The running appliance's connector configurations (/api/connectors): id, type and name, the ids
Image Portability commands take. Secrets are write-only: --secret FIELD=ENV_VAR reads the value from
that environment variable, and nothing prints it back (secretsSet says which are set). Settings are
--setting KEY=VALUE, one each (lamina connector get shows them; GET /api/connectors/types their
schemas); update keeps the settings it is not given. --offload on|off turns Offload Compositing on
or off; --cache-gb sizes the packaging cache (0: off); --post-publish-script FILE runs after each
publish. test runs the connector's own check as a task; with --wait it follows it and prints one
result per setting, exiting 0 only when all pass.`,
  actions: {
    create: {
      usage:
        'create --type TYPE --name NAME [--setting KEY=VALUE]... [--secret FIELD=ENV_VAR]... [--offload on|off] [--cache-gb N] [--post-publish-script FILE] [--json]',
      options: { type: 'value', ...EDIT_OPTIONS },
      async run({ api, options, print }) {
        const type = options.values.get('type');
        if (!type || !options.values.has('name')) throw new UsageError('create needs --type and --name');
        print(await api.post<ConnectorView>('/api/connectors', { type, ...(await connectorBody(options)) }));
        return 0;
      },
    },
    update: {
      usage:
        'update ID|NAME [--name NAME] [--setting KEY=VALUE]... [--secret FIELD=ENV_VAR]... [--offload on|off] [--cache-gb N] [--post-publish-script FILE] [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, target, print }) {
        const connector = (await target()) as unknown as ConnectorView;
        const body = await connectorBody(options);
        // The API replaces settings whole: the ones given are laid over the stored ones.
        if (body.settings) body.settings = { ...connector.settings, ...body.settings };
        print(await api.patch<ConnectorView>(`/api/connectors/${connector.id}`, body));
        return 0;
      },
    },
    test: {
      usage: 'test ID|NAME [--wait] [--json]',
      options: { wait: 'flag' },
      async run({ api, options, json, target }) {
        const connector = await target();
        const started = await api.post<Task>(`/api/connectors/${connector.id}/test`, {});
        if (!options.flags.has('wait')) return printTask(started, json);
        const task = await followTask(api, started.id);
        if (task.state !== 'completed') return printTask(task, json);
        const report = task.result as TestReport;
        if (json) console.log(JSON.stringify(task, null, 2));
        else
          for (const check of report.checks)
            console.log(
              `${check.ok ? 'ok    ' : 'FAILED'}  ${(check.field ?? '-').padEnd(16)}  ${check.message}`,
            );
        return report.ok ? 0 : 1;
      },
    },
  },
});

import fs from 'node:fs/promises';
import { UsageError } from '../command';
import type { ParsedOptions } from '../options';
import { fieldsOf, resourceCommand, wholeNumber } from '../resource-command';

interface JunctionView {
  id: string;
  name: string;
  priority: number;
  settings: Record<string, unknown> & { url: string; domain: string; netbiosName: string };
  bindPasswordSet: boolean;
}

const EDIT_OPTIONS = {
  name: 'value',
  priority: 'value',
  url: 'value',
  'start-tls': 'flag',
  'ca-file': 'value',
  'bind-dn': 'value',
  'base-dn': 'value',
  domain: 'value',
  netbios: 'value',
  schema: 'value',
  'bind-password-env': 'value',
} as const;

/**
 * The junction fields the flags give, settings laid over `current` (an edit replaces settings whole).
 * The service account's password comes from the environment variable --bind-password-env names.
 */
async function junctionBody(options: ParsedOptions, current: Record<string, unknown> = {}) {
  const settings = {
    ...current,
    ...fieldsOf(options, {
      url: 'url',
      'bind-dn': 'bindDn',
      'base-dn': 'baseDn',
      domain: 'domain',
      netbios: 'netbiosName',
      schema: 'schema',
    }),
    ...(options.flags.has('start-tls') ? { startTls: true } : {}),
    ...(options.values.has('ca-file')
      ? { caCertificate: await fs.readFile(options.values.get('ca-file')!, 'utf8') }
      : {}),
  };
  const variable = options.values.get('bind-password-env');
  const bindPassword = variable === undefined ? undefined : process.env[variable];
  if (variable !== undefined && !bindPassword)
    throw new UsageError(`--bind-password-env: ${variable} is not set`);
  const priority = wholeNumber(options, 'priority');
  return {
    ...fieldsOf(options, { name: 'name' }),
    ...(priority === undefined ? {} : { priority }),
    ...(Object.keys(settings).length > 0 ? { settings } : {}),
    ...(bindPassword ? { bindPassword } : {}),
  };
}

/** `lamina junction`: the console's Directory junctions page, the directories users sign in from. */
export const junctionCommand = resourceCommand<JunctionView>({
  command: 'junction',
  noun: 'directory junction',
  path: '/api/directory-junctions',
  named: true,
  deletable: true,
  filters: { name: 'name' },
  line: (j) =>
    `${j.id}  ${j.name}  ${j.settings.url}  ${j.settings.domain} (${j.settings.netbiosName})  priority ${j.priority}`,
  about: `Directory junctions: the AD or LDAP directories users sign in from. The service account's password
is write-only and read from the environment variable --bind-password-env names, never from an argument.
update changes only the settings given. test connects, binds as the service account and reads the base
DN, printing one result per setting; it exits 0 only when all pass.`,
  actions: {
    create: {
      usage:
        'create --name NAME --url ldap[s]://HOST[:PORT] --bind-dn DN --bind-password-env VAR --base-dn DN --domain DNS --netbios NAME --schema ad|ldap [--start-tls] [--ca-file PEM] [--priority N] [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, print }) {
        print(await api.post<JunctionView>('/api/directory-junctions', await junctionBody(options)));
        return 0;
      },
    },
    update: {
      usage: 'update JUNCTION [the create flags to change] [--json]',
      options: EDIT_OPTIONS,
      async run({ api, options, target, print }) {
        const junction = (await target()) as unknown as JunctionView;
        const changesSettings = Object.keys(EDIT_OPTIONS).some(
          (flag) =>
            !['name', 'priority', 'bind-password-env'].includes(flag) &&
            (options.values.has(flag) || options.flags.has(flag)),
        );
        const body = await junctionBody(options, changesSettings ? junction.settings : undefined);
        print(await api.patch<JunctionView>(`/api/directory-junctions/${junction.id}`, body));
        return 0;
      },
    },
    test: {
      usage: 'test JUNCTION [--json]',
      async run({ api, json, target }) {
        const junction = await target();
        const result = await api.post<{
          ok: boolean;
          checks: { field: string; ok: boolean; message: string }[];
        }>(`/api/directory-junctions/${junction.id}/test`, {});
        if (json) console.log(JSON.stringify(result, null, 2));
        else
          for (const c of result.checks)
            console.log(`${c.ok ? 'ok    ' : 'FAILED'}  ${c.field.padEnd(14)}  ${c.message}`);
        return result.ok ? 0 : 1;
      },
    },
  },
});

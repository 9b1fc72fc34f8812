import { API_OPTION_HELP, applianceApi } from './appliance-api';
import { UsageError, type CliCommand } from './command';
import { parseOptions, type OptionKinds, type ParsedOptions } from './options';

export type Api = ReturnType<typeof applianceApi>;

/** One action beyond list/get/delete: its usage line, its flags, and what it does. */
export interface ResourceAction {
  /** `create --name N …`, shown after `lamina <command>`. */
  usage: string;
  options?: OptionKinds;
  run(context: ActionContext): Promise<number>;
}

export interface ActionContext {
  api: Api;
  options: ParsedOptions;
  json: boolean;
  /** The resource the first positional argument names (by id, or by exact name where it has one). */
  target(): Promise<Record<string, unknown> & { id: string }>;
  /** Prints an object as JSON, or as its one-line view. */
  print(item: unknown): void;
}

/**
 * A `lamina` command over one API resource, as the console's list pages show it: `list` (filters,
 * --json), `get`, `delete`, and the resource's own actions (create, update, test…). An object is named by
 * id or, where it has a name, by its exact name; an unknown one is a usage error naming it.
 */
export interface ResourceSpec<T> {
  /** The words after `lamina` (`connector`, `elastic assignment`). */
  command: string;
  /** What one object is called in messages. */
  noun: string;
  /** The API's list route; an object is `<path>/<id>`. */
  path: string;
  /** A paragraph of help under the usage lines. */
  about: string;
  /** One line per object for a person (list, get and the actions' answers without --json). */
  line(item: T): string;
  /** List flags → the list route's query parameters. */
  filters?: Record<string, string>;
  /** Whether objects are found by their `name` too. */
  named?: boolean;
  deletable?: boolean;
  actions?: Record<string, ResourceAction>;
}

/** Splits `key=value` pairs into an object; a value that parses as JSON (numbers, true, lists) is taken as such. */
export function keyValues(pairs: string[], flag: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at < 1) throw new UsageError(`--${flag} takes KEY=VALUE, not '${pair}'`);
    const raw = pair.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // A plain string: the common case (paths, names).
    }
    result[pair.slice(0, at)] = value;
  }
  return result;
}

/** The value of each flag given, under the body field it names; flags not given are left out. */
export function fieldsOf(options: ParsedOptions, fields: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [flag, field] of Object.entries(fields)) {
    const value = options.values.get(flag);
    if (value !== undefined) body[field] = value;
  }
  return body;
}

/** A whole number a flag gives, checked. */
export function wholeNumber(options: ParsedOptions, flag: string): number | undefined {
  const value = options.values.get(flag);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${flag} must be a whole number`);
  return Number(value);
}

export function resourceCommand<T extends { id: string }>(spec: ResourceSpec<T>): CliCommand {
  const actions = spec.actions ?? {};
  const usage = [
    'Usage:',
    `  lamina ${spec.command} list${Object.keys(spec.filters ?? {})
      .map((f) => ` [--${f} VALUE]`)
      .join('')} [--json]`,
    `  lamina ${spec.command} get ${spec.named ? 'ID|NAME' : 'ID'} [--json]`,
    ...Object.values(actions).map((a) => `  lamina ${spec.command} ${a.usage}`),
    ...(spec.deletable ? [`  lamina ${spec.command} delete ${spec.named ? 'ID|NAME' : 'ID'}`] : []),
    '',
    spec.about,
    API_OPTION_HELP,
  ].join('\n');

  const listRoute = (query: Record<string, string>) =>
    `${spec.path}?${new URLSearchParams({ pageSize: '200', ...query })}`;

  const find = async (api: Api, idOrName: string | undefined): Promise<T> => {
    if (!idOrName) throw new UsageError(`name the ${spec.noun}\n\n${usage}`);
    // The list first: not every resource has a route of its own per object (role assignments).
    const page = await api.get<{ items: (T & { name?: string })[] }>(
      listRoute(spec.named ? { name: idOrName } : {}),
    );
    const found = page.items.find((item) => item.id === idOrName || (spec.named && item.name === idOrName));
    if (found) return found;
    if (/^[0-9a-f-]{36}$/i.test(idOrName)) return api.get<T>(`${spec.path}/${idOrName}`);
    throw new UsageError(`no ${spec.noun} is ${spec.named ? 'named' : 'identified by'} '${idOrName}'`);
  };

  return {
    usage,
    async run(args) {
      const [sub, ...rest] = args;
      const action = sub === undefined ? undefined : actions[sub];
      const kinds: OptionKinds = {
        json: 'flag',
        api: 'value',
        ...(sub === 'list'
          ? Object.fromEntries(Object.keys(spec.filters ?? {}).map((f) => [f, 'value' as const]))
          : {}),
        ...action?.options,
      };
      if (sub !== 'list' && sub !== 'get' && sub !== 'delete' && !action)
        throw new UsageError(`unknown ${spec.command} command ${sub ?? '(none)'}\n\n${usage}`);
      if (sub === 'delete' && !spec.deletable) throw new UsageError(`${spec.noun}s are not deleted here`);
      const options = parseOptions(rest, kinds);
      const json = options.flags.has('json');
      const api = applianceApi(options);
      const print = (item: unknown) =>
        console.log(json ? JSON.stringify(item, null, 2) : spec.line(item as T));
      if (sub === 'list') {
        const query = Object.fromEntries(
          Object.entries(spec.filters ?? {})
            .filter(([flag]) => options.values.has(flag))
            .map(([flag, param]) => [param, options.values.get(flag)!]),
        );
        const page = await api.get<{ items: T[] }>(listRoute(query));
        if (json) console.log(JSON.stringify(page.items, null, 2));
        else for (const item of page.items) console.log(spec.line(item));
        return 0;
      }
      const target = () => find(api, options.positional[0]);
      if (sub === 'get') {
        print(await target());
        return 0;
      }
      if (sub === 'delete') {
        const item = await target();
        await api.delete(`${spec.path}/${item.id}`);
        if (!json) console.log(`deleted ${spec.noun} ${item.id}`);
        return 0;
      }
      return action!.run({
        api,
        options,
        json,
        target: target as ActionContext['target'],
        print,
      });
    },
  };
}

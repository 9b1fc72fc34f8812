import { Client, escapeFilter, InvalidCredentialsError, type Entry } from 'ldapts';
import type { ConnectionOptions } from 'node:tls';
import { junctionAttributes, type JunctionSettings } from '../directory-junctions/junction-settings';
import type { Identity } from './identity';

/** A directory junction with its bind password opened, ready to authenticate against. */
export interface Junction {
  id: string;
  name: string;
  settings: JunctionSettings;
  bindPassword: string;
}

/** The directory could not be asked (down, TLS failure, bad service account) — not a wrong user password. */
export class DirectoryUnavailableError extends Error {}

/** Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: matches every group the DN is in, transitively. */
const IN_CHAIN = '1.2.840.113556.1.4.1941';
/** Nesting deeper than this on plain LDAP is treated as a loop guard, not as membership. */
const MAX_NESTING = 16;

function tlsOptions(settings: JunctionSettings): ConnectionOptions {
  return settings.caCertificate ? { ca: [settings.caCertificate] } : {};
}

async function connect(settings: JunctionSettings): Promise<Client> {
  const ldaps = settings.url.startsWith('ldaps:');
  const client = new Client({
    url: settings.url,
    timeout: settings.timeoutMs,
    connectTimeout: settings.timeoutMs,
    // ldapts speaks TLS from the first byte whenever tlsOptions are given, so only for ldaps://.
    ...(ldaps ? { tlsOptions: tlsOptions(settings) } : {}),
  });
  if (settings.startTls) await client.startTLS(tlsOptions(settings));
  return client;
}

function values(entry: Entry, attribute: string): string[] {
  const value = entry[attribute];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((v) => v.toString());
}

/**
 * Checks `login`/`password` against one junction: the service account finds the user by login name
 * (the name escaped per RFC 4515), the user's own bind proves the password, then the groups are read.
 * Resolves undefined for an unknown user or a wrong password; throws DirectoryUnavailableError when the
 * directory itself fails.
 */
export async function authenticate(
  junction: Junction,
  login: string,
  password: string,
): Promise<Identity | undefined> {
  // An empty password would be an anonymous ("unauthenticated") bind, which many servers accept.
  if (password.length === 0) return undefined;
  const { settings } = junction;
  const attributes = junctionAttributes(settings);
  let service: Client | undefined;
  try {
    service = await connect(settings);
    await service.bind(settings.bindDn, junction.bindPassword);
    // The attribute names are validated names (no filter syntax possible); every value is escaped.
    const filter = escapeFilter`(&(objectClass=${attributes.userObjectClass})(${attributes.loginAttribute}=${login}))`;
    const { searchEntries } = await service.search(settings.baseDn, {
      scope: 'sub',
      filter,
      attributes: ['dn', attributes.loginAttribute, 'memberOf'],
      sizeLimit: 2,
    });
    if (searchEntries.length !== 1) return undefined;
    const user = searchEntries[0];
    if (!(await passwordMatches(settings, user.dn, password))) return undefined;
    const groups =
      settings.schema === 'ad'
        ? await groupsInChain(service, settings, user.dn)
        : await nestedMemberOf(service, user);
    const loginName = values(user, attributes.loginAttribute)[0] ?? login;
    return {
      name: `${loginName.toLowerCase()}@${settings.domain.toLowerCase()}`,
      kind: 'directory',
      dn: user.dn,
      groups,
      junctionId: junction.id,
    };
  } catch (err) {
    if (err instanceof DirectoryUnavailableError) throw err;
    throw new DirectoryUnavailableError(`directory junction '${junction.name}': ${(err as Error).message}`);
  } finally {
    await service?.unbind().catch(() => undefined);
  }
}

async function passwordMatches(settings: JunctionSettings, dn: string, password: string): Promise<boolean> {
  const client = await connect(settings);
  try {
    await client.bind(dn, password);
    return true;
  } catch (err) {
    if (err instanceof InvalidCredentialsError) return false;
    throw err;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

/** The AD filter for every group `dn` is in, directly or through nesting; the DN is escaped like any value. */
export function inChainFilter(dn: string): string {
  return `(member:${IN_CHAIN}:=${escapeFilter`${dn}`})`;
}

async function groupsInChain(client: Client, settings: JunctionSettings, userDn: string): Promise<string[]> {
  const { searchEntries } = await client.search(settings.baseDn, {
    scope: 'sub',
    filter: inChainFilter(userDn),
    attributes: ['dn'],
  });
  return searchEntries.map((e) => e.dn);
}

/** Plain LDAP: follow memberOf from the user through each group (the memberOf overlay keeps it on groups too). */
async function nestedMemberOf(client: Client, user: Entry): Promise<string[]> {
  const found = new Set<string>();
  let frontier = values(user, 'memberOf');
  for (let depth = 0; frontier.length > 0 && depth < MAX_NESTING; depth++) {
    const next: string[] = [];
    for (const group of frontier) {
      if (found.has(group.toLowerCase())) continue;
      found.add(group.toLowerCase());
      const { searchEntries } = await client.search(group, { scope: 'base', attributes: ['memberOf'] });
      for (const entry of searchEntries) next.push(...values(entry, 'memberOf'));
    }
    frontier = next;
  }
  return [...found];
}

export interface JunctionCheck {
  field: string;
  ok: boolean;
  message: string;
}

/**
 * The junction's "Test connection": reach the server (TLS included), bind as the service account, read
 * the base DN. Stops at the first failure and names the setting to fix.
 */
export async function checkJunction(junction: Junction): Promise<JunctionCheck[]> {
  const { settings } = junction;
  let client: Client | undefined;
  const steps: [field: string, success: string, work: () => Promise<unknown>][] = [
    [
      settings.startTls || settings.url.startsWith('ldaps:') ? 'caCertificate' : 'url',
      `connected to ${settings.url}`,
      async () => {
        client = await connect(settings);
        // ldapts connects lazily: reading the root DSE makes it connect (and negotiate TLS) now.
        await client.search('', { scope: 'base', attributes: ['namingContexts'] });
      },
    ],
    [
      'bindPassword',
      `bound as ${settings.bindDn}`,
      () => client!.bind(settings.bindDn, junction.bindPassword),
    ],
    [
      'baseDn',
      `${settings.baseDn} is readable`,
      () => client!.search(settings.baseDn, { scope: 'base', attributes: ['dn'] }),
    ],
  ];
  const checks: JunctionCheck[] = [];
  try {
    for (const [field, success, work] of steps) {
      try {
        await work();
        checks.push({ field, ok: true, message: success });
      } catch (err) {
        checks.push({ field, ok: false, message: (err as Error).message });
        break;
      }
    }
    return checks;
  } finally {
    await client?.unbind().catch(() => undefined);
  }
}

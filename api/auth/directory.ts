import { Client, escapeFilter, InvalidCredentialsError, NoSuchObjectError, type Entry } from 'ldapts';
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

/** AD's userAccountControl flag ACCOUNTDISABLE. */
const ACCOUNT_DISABLED = 0x2;

/**
 * Checks `login`/`password` against one junction: the service account finds the user by login name
 * (the name escaped per RFC 4515), the user's own bind proves the password, then the groups are read.
 * Resolves undefined for an unknown or disabled user or a wrong password; throws
 * DirectoryUnavailableError when the directory itself fails.
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
  return asService(junction, async (service) => {
    // The attribute names are validated names (no filter syntax possible); every value is escaped.
    const filter = escapeFilter`(&(objectClass=${attributes.userObjectClass})(${attributes.loginAttribute}=${login}))`;
    const { searchEntries } = await service.search(settings.baseDn, {
      scope: 'sub',
      filter,
      attributes: userAttributes(settings),
      sizeLimit: 2,
    });
    if (searchEntries.length !== 1) return undefined;
    const user = searchEntries[0];
    if (!(await passwordMatches(settings, user.dn, password))) return undefined;
    return entryIdentity(service, junction, user, login);
  });
}

/**
 * Looks a signed-in user up again by DN, as the service account: their groups now, or undefined when
 * the directory no longer has them (deleted, moved, renamed) or has disabled them. Throws
 * DirectoryUnavailableError when the directory cannot be asked.
 */
export async function resolveUser(junction: Junction, identity: Identity): Promise<Identity | undefined> {
  const { settings } = junction;
  const attributes = junctionAttributes(settings);
  return asService(junction, async (service) => {
    let entries: Entry[];
    try {
      ({ searchEntries: entries } = await service.search(identity.dn!, {
        scope: 'base',
        filter: `(objectClass=${attributes.userObjectClass})`,
        attributes: userAttributes(settings),
      }));
    } catch (err) {
      if (err instanceof NoSuchObjectError) return undefined;
      throw err;
    }
    if (entries.length !== 1) return undefined;
    const current = await entryIdentity(service, junction, entries[0], identity.name);
    // The same DN under another login name is not the user the session or token was made for.
    return current?.name === identity.name ? current : undefined;
  });
}

/** Runs `work` bound as the junction's service account; any failure but a verdict is "unavailable". */
export async function asService<T>(junction: Junction, work: (service: Client) => Promise<T>): Promise<T> {
  let service: Client | undefined;
  try {
    service = await connect(junction.settings);
    await service.bind(junction.settings.bindDn, junction.bindPassword);
    return await work(service);
  } catch (err) {
    if (err instanceof DirectoryUnavailableError) throw err;
    throw new DirectoryUnavailableError(`directory junction '${junction.name}': ${(err as Error).message}`);
  } finally {
    await service?.unbind().catch(() => undefined);
  }
}

function userAttributes(settings: JunctionSettings): string[] {
  return ['dn', junctionAttributes(settings).loginAttribute, 'memberOf', 'userAccountControl'];
}

/**
 * The identity of a user entry, or undefined when the account is disabled. ACCOUNTDISABLE is AD's
 * flag; it is honoured on any directory whose entries carry userAccountControl (plain LDAP has no
 * standard one, so there a user is refused once the entry is gone).
 */
async function entryIdentity(
  service: Client,
  junction: Junction,
  user: Entry,
  typedLogin: string,
): Promise<Identity | undefined> {
  const { settings } = junction;
  const control = Number(values(user, 'userAccountControl')[0] ?? 0);
  if (control & ACCOUNT_DISABLED) return undefined;
  const groups =
    settings.schema === 'ad'
      ? await groupsInChain(service, settings, user.dn)
      : await nestedMemberOf(service, user);
  const loginName = values(user, junctionAttributes(settings).loginAttribute)[0] ?? typedLogin;
  return {
    name: `${loginName.toLowerCase()}@${settings.domain.toLowerCase()}`,
    kind: 'directory',
    dn: user.dn,
    groups,
    junctionId: junction.id,
  };
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

export async function groupsInChain(
  client: Client,
  settings: JunctionSettings,
  userDn: string,
): Promise<string[]> {
  const { searchEntries } = await client.search(settings.baseDn, {
    scope: 'sub',
    filter: inChainFilter(userDn),
    attributes: ['dn'],
  });
  return searchEntries.map((e) => e.dn);
}

/** Plain LDAP: follow memberOf from the user through each group (the memberOf overlay keeps it on groups too). */
export async function nestedMemberOf(client: Client, user: Entry): Promise<string[]> {
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

import { escapeFilter, NoSuchObjectError, type Client, type Entry } from 'ldapts';
import {
  asService,
  DirectoryUnavailableError,
  groupsInChain,
  nestedMemberOf,
  type Junction,
} from '../auth/directory';
import { HttpProblem } from '../problem';
import { junctionAttributes, type JunctionSettings } from '../directory-junctions/junction-settings';

/**
 * Users and groups named DOMAIN\name (or name@domain.dns), found in the directory junction of their
 * domain, with their `objectSid`: what elastic layer assignments and user-layer locations are written
 * with, since the desktops know users by SID.
 */
export interface DirectoryPrincipal {
  /** As given, the domain in its NetBIOS spelling: EXAMPLE\alice. */
  name: string;
  kind: 'user' | 'group';
  sid: string;
  dn: string;
}

/** A name the directory does not know, or cannot be read as DOMAIN\name: `message` says which. */
export class PrincipalProblem extends Error {}

/** A binary objectSid (revision, sub-authority count, 48-bit authority, 32-bit sub-authorities) as S-1-…. */
export function sidString(binary: Buffer): string {
  if (binary.length < 8 || binary.length !== 8 + binary[1] * 4) {
    throw new Error(`objectSid of ${binary.length} bytes is not a SID`);
  }
  const authority = binary.readUIntBE(2, 6);
  const subAuthorities = Array.from({ length: binary[1] }, (_, i) => binary.readUInt32LE(8 + i * 4));
  return ['S', binary[0], authority, ...subAuthorities].join('-');
}

/** The junction of the domain a name is in, and the name within it. */
function junctionOf(junctions: Junction[], qualified: string): { junction: Junction; name: string } {
  const netbios = /^([^\\@]+)\\([^\\@]+)$/.exec(qualified);
  const upn = /^([^\\@]+)@([^\\@]+)$/.exec(qualified);
  if (!netbios && !upn) {
    throw new PrincipalProblem(`'${qualified}' does not name its domain: write DOMAIN\\name or name@domain`);
  }
  const [domain, name] = netbios ? [netbios[1], netbios[2]] : [upn![2], upn![1]];
  const junction = junctions.find(
    (j) =>
      j.settings.netbiosName.toLowerCase() === domain.toLowerCase() ||
      j.settings.domain.toLowerCase() === domain.toLowerCase(),
  );
  if (!junction) throw new PrincipalProblem(`no directory junction serves the domain '${domain}'`);
  return { junction, name };
}

/** The filter finding a user or group by its short name (values escaped per RFC 4515). */
function nameFilter(settings: JunctionSettings, kind: 'user' | 'group', name: string): string {
  if (kind === 'user') {
    const { userObjectClass, loginAttribute } = junctionAttributes(settings);
    return escapeFilter`(&(objectClass=${userObjectClass})(${loginAttribute}=${name}))`;
  }
  return settings.schema === 'ad'
    ? escapeFilter`(&(objectClass=group)(sAMAccountName=${name}))`
    : escapeFilter`(&(objectClass=groupOfNames)(cn=${name}))`;
}

const SID_ATTRIBUTES = { attributes: ['objectSid', 'memberOf'], explicitBufferAttributes: ['objectSid'] };

function sidOf(entry: Entry, what: string): string {
  const value = entry.objectSid;
  const binary = Array.isArray(value) ? value[0] : value;
  if (!Buffer.isBuffer(binary)) throw new PrincipalProblem(`${what} has no objectSid in the directory`);
  return sidString(binary);
}

/**
 * The one entry of that name, or why there is none. Answered rather than thrown: `asService` takes any
 * error inside it for an unreachable directory.
 */
async function findByName(
  service: Client,
  junction: Junction,
  kind: 'user' | 'group',
  name: string,
  qualified: string,
): Promise<Entry | PrincipalProblem> {
  const { searchEntries } = await service.search(junction.settings.baseDn, {
    scope: 'sub',
    filter: nameFilter(junction.settings, kind, name),
    sizeLimit: 2,
    ...SID_ATTRIBUTES,
  });
  if (searchEntries.length === 1) return searchEntries[0];
  return new PrincipalProblem(
    `the directory '${junction.name}' has ${searchEntries.length === 0 ? 'no' : 'more than one'} ${kind} '${qualified}'`,
  );
}

function found<T>(result: T | PrincipalProblem): T {
  if (result instanceof PrincipalProblem) throw result;
  return result;
}

/**
 * Each name with its SID. Throws PrincipalProblem naming the first name that cannot be resolved, and
 * DirectoryUnavailableError when a directory cannot be asked.
 */
export async function resolvePrincipals(
  junctions: Junction[],
  names: { kind: 'user' | 'group'; name: string }[],
): Promise<DirectoryPrincipal[]> {
  const resolved: DirectoryPrincipal[] = [];
  for (const { kind, name: qualified } of names) {
    const { junction, name } = junctionOf(junctions, qualified);
    const entry = found(
      await asService(junction, (service) => findByName(service, junction, kind, name, qualified)),
    );
    resolved.push({
      name: `${junction.settings.netbiosName}\\${name}`,
      kind,
      sid: sidOf(entry, `${kind} '${qualified}'`),
      dn: entry.dn,
    });
  }
  return resolved;
}

/** The junction whose base DN holds `dn` (compared without case, as LDAP compares DNs). */
function junctionHolding(junctions: Junction[], dn: string): Junction {
  const lower = dn.replace(/\s*,\s*/g, ',').toLowerCase();
  const junction = junctions.find((j) =>
    lower.endsWith(`,${j.settings.baseDn.replace(/\s*,\s*/g, ',').toLowerCase()}`),
  );
  if (!junction) throw new PrincipalProblem(`no directory junction holds the DN '${dn}'`);
  return junction;
}

/** The group entry at `dn`, or why there is none (a base search of a missing DN is an error in LDAP). */
async function findGroupByDn(
  service: Client,
  junction: Junction,
  dn: string,
): Promise<Entry | PrincipalProblem> {
  const groupClass = junction.settings.schema === 'ad' ? 'group' : 'groupOfNames';
  try {
    const { searchEntries } = await service.search(dn, {
      scope: 'base',
      filter: escapeFilter`(objectClass=${groupClass})`,
      ...SID_ATTRIBUTES,
      attributes: [...SID_ATTRIBUTES.attributes, 'cn', 'sAMAccountName'],
    });
    if (searchEntries.length === 1) return searchEntries[0];
  } catch (err) {
    if (!(err instanceof NoSuchObjectError)) throw err;
  }
  return new PrincipalProblem(`the directory '${junction.name}' has no group '${dn}'`);
}

/**
 * Groups named DOMAIN\name, name@domain or by DN, each with its SID (user-layer storage locations). Throws
 * like resolvePrincipals.
 */
export async function resolveGroups(junctions: Junction[], names: string[]): Promise<DirectoryPrincipal[]> {
  const resolved: DirectoryPrincipal[] = [];
  for (const name of names) {
    if (!name.includes('=')) {
      resolved.push(...(await resolvePrincipals(junctions, [{ kind: 'group', name }])));
      continue;
    }
    const junction = junctionHolding(junctions, name);
    const entry = found(await asService(junction, (service) => findGroupByDn(service, junction, name)));
    const shortName = [entry.sAMAccountName, entry.cn].flat().find((v) => typeof v === 'string');
    resolved.push({
      name: `${junction.settings.netbiosName}\\${String(shortName ?? name)}`,
      kind: 'group',
      sid: sidOf(entry, `group '${name}'`),
      dn: entry.dn,
    });
  }
  return resolved;
}

/** A user as a logon sees them: their SID first, then their groups' (nested ones included). */
export interface LogonIdentity {
  user: DirectoryPrincipal;
  groups: { dn: string; sid?: string }[];
  sids: string[];
}

/** The user and every group they are in, directly or through nesting, with SIDs where the group has one. */
export async function logonIdentity(junctions: Junction[], qualified: string): Promise<LogonIdentity> {
  const { junction, name } = junctionOf(junctions, qualified);
  const read = await asService(junction, async (service) => {
    const entry = await findByName(service, junction, 'user', name, qualified);
    if (entry instanceof PrincipalProblem) return entry;
    const groupDns =
      junction.settings.schema === 'ad'
        ? await groupsInChain(service, junction.settings, entry.dn)
        : await nestedMemberOf(service, entry);
    const groups = [];
    for (const dn of groupDns) {
      const { searchEntries } = await service.search(dn, { scope: 'base', ...SID_ATTRIBUTES });
      const binary = searchEntries[0]?.objectSid;
      groups.push({ dn, sid: Buffer.isBuffer(binary) ? sidString(binary) : undefined });
    }
    return { entry, groups };
  });
  const { entry, groups } = found(read);
  const user: DirectoryPrincipal = {
    name: `${junction.settings.netbiosName}\\${name}`,
    kind: 'user',
    sid: sidOf(entry, `user '${qualified}'`),
    dn: entry.dn,
  };
  return { user, groups, sids: [user.sid, ...groups.flatMap((g) => (g.sid ? [g.sid] : []))] };
}

/**
 * Runs a directory lookup for a route: a well-formed name the directory does not resolve is refused
 * (422 on `field`), a directory that cannot be asked is a 503.
 */
export async function lookedUp<T>(field: string, lookup: () => Promise<T>): Promise<T> {
  try {
    return await lookup();
  } catch (err) {
    if (err instanceof PrincipalProblem) {
      throw new HttpProblem({
        title: 'Not in the directory',
        status: 422,
        detail: `${field}: ${err.message}`,
        errors: [{ field, message: err.message }],
      });
    }
    if (err instanceof DirectoryUnavailableError) {
      throw new HttpProblem({ title: 'Directory unavailable', status: 503, detail: err.message });
    }
    throw err;
  }
}

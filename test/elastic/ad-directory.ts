import { Attribute, Client } from 'ldapts';
import { startSlapd, type Slapd } from '../../runtime/slapd';
import type { ApiClient } from '../api-client';
import { testDir } from '../harness';

/**
 * An OpenLDAP directory shaped like a small AD domain for elastic layering: users and groups carry
 * AD's binary `objectSid`, groups nest (the memberOf overlay keeps memberOf on users and groups).
 */
const SUFFIX = 'dc=example,dc=com';
const ROOT_PASSWORD = 'slapd-root-password';
export const SERVICE_PASSWORD = 'Elastic-Bind-Secret-19';
const people = `ou=people,${SUFFIX}`;
const groups = `ou=groups,${SUFFIX}`;
const DOMAIN_SID = 'S-1-5-21-1004336348-1177238915-682003330';

/** objectSid with AD's OID and octet-string syntax, on an auxiliary class (OpenLDAP's experimental arc). */
const AD_OBJECT_SID = `
dn: cn=adobjectsid,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: adobjectsid
olcAttributeTypes: ( 1.2.840.113556.1.4.146 NAME 'objectSid' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.4203.666.11.19.1 NAME 'adSecurityPrincipal' AUXILIARY MAY objectSid )`;

/** S-1-5-21-…-RID as AD stores it: revision, count, 48-bit authority big-endian, sub-authorities little-endian. */
export function sidBytes(sid: string): Buffer {
  const [, revision, authority, ...subs] = sid.split('-');
  const buffer = Buffer.alloc(8 + subs.length * 4);
  buffer[0] = Number(revision);
  buffer[1] = subs.length;
  buffer.writeUIntBE(Number(authority), 2, 6);
  subs.forEach((sub, i) => buffer.writeUInt32LE(Number(sub), 8 + i * 4));
  return buffer;
}

export const SIDS = {
  alice: `${DOMAIN_SID}-1105`,
  bob: `${DOMAIN_SID}-1106`,
  helpdesk: `${DOMAIN_SID}-2101`,
  itStaff: `${DOMAIN_SID}-2102`,
  finance: `${DOMAIN_SID}-2103`,
};

export interface AdDirectory {
  slapd: Slapd;
  /** Removes a group from the directory, as an AD admin deleting it would. */
  deleteGroup(cn: string): Promise<void>;
  stop(): Promise<void>;
}

/** An entry's attributes for ldapts, binary values (objectSid) included. */
function entry(values: Record<string, string | string[] | Buffer>): Attribute[] {
  return Object.entries(values).map(
    ([type, value]) =>
      new Attribute({
        type,
        values: Buffer.isBuffer(value) ? [value] : Array.isArray(value) ? value : [value],
      }),
  );
}

async function asRoot<T>(slapd: Slapd, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: slapd.url });
  await client.bind(slapd.rootDn, ROOT_PASSWORD);
  try {
    return await work(client);
  } finally {
    await client.unbind();
  }
}

/**
 * alice is in helpdesk, helpdesk in it-staff (so alice is in it-staff through nesting); bob is in
 * finance; lamina-svc is the junction's service account.
 */
export async function startAdDirectory(): Promise<AdDirectory> {
  const slapd = await startSlapd({
    dir: testDir('slapd'),
    suffix: SUFFIX,
    rootPassword: ROOT_PASSWORD,
    schemaLdif: [AD_OBJECT_SID],
  });
  await asRoot(slapd, async (client) => {
    const person = (uid: string, sid?: string): Record<string, string | string[] | Buffer> => ({
      objectClass: ['inetOrgPerson', ...(sid ? ['adSecurityPrincipal'] : [])],
      cn: uid,
      sn: uid,
      uid,
      userPassword: `${uid}-pw`,
      ...(sid ? { objectSid: sidBytes(sid) } : {}),
    });
    const group = (
      cn: string,
      sid: string,
      members: string[],
    ): Record<string, string | string[] | Buffer> => ({
      objectClass: ['groupOfNames', 'adSecurityPrincipal'],
      cn,
      member: members,
      objectSid: sidBytes(sid),
    });
    await client.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });
    await client.add(people, { objectClass: ['organizationalUnit'], ou: 'people' });
    await client.add(groups, { objectClass: ['organizationalUnit'], ou: 'groups' });
    await client.add(
      `cn=lamina-svc,${people}`,
      entry({ ...person('lamina-svc'), userPassword: SERVICE_PASSWORD }),
    );
    await client.add(`cn=alice,${people}`, entry(person('alice', SIDS.alice)));
    await client.add(`cn=bob,${people}`, entry(person('bob', SIDS.bob)));
    await client.add(
      `cn=helpdesk,${groups}`,
      entry(group('helpdesk', SIDS.helpdesk, [`cn=alice,${people}`])),
    );
    await client.add(
      `cn=it-staff,${groups}`,
      entry(group('it-staff', SIDS.itStaff, [`cn=helpdesk,${groups}`])),
    );
    await client.add(`cn=finance,${groups}`, entry(group('finance', SIDS.finance, [`cn=bob,${people}`])));
  });
  return {
    slapd,
    deleteGroup: (cn) => asRoot(slapd, (client) => client.del(`cn=${cn},${groups}`)),
    stop: () => slapd.stop(),
  };
}

/** Joins the directory to an appliance as the EXAMPLE domain. */
export async function joinDirectory(api: ApiClient, directory: AdDirectory): Promise<void> {
  const junction = await api.post('/api/directory-junctions', {
    name: 'Example AD',
    settings: {
      url: directory.slapd.url,
      bindDn: `cn=lamina-svc,${people}`,
      baseDn: SUFFIX,
      schema: 'ldap',
      domain: 'example.com',
      netbiosName: 'EXAMPLE',
    },
    bindPassword: SERVICE_PASSWORD,
  });
  if (junction.status !== 201) throw new Error(`joining the directory: ${junction.text}`);
}

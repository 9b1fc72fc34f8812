import { z } from 'zod';

/** An LDAP attribute or object class name (RFC 4512 descr); never user input inside a filter. */
const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'not an LDAP attribute name');
const dn = z.string().trim().min(3).max(1024);

/** How users and groups are found: Active Directory's attributes, or plain LDAP (inetOrgPerson + memberOf overlay). */
export const DIRECTORY_SCHEMAS = {
  ad: { userObjectClass: 'user', loginAttribute: 'sAMAccountName', displayNameAttribute: 'displayName' },
  ldap: { userObjectClass: 'inetOrgPerson', loginAttribute: 'uid', displayNameAttribute: 'cn' },
} as const;

export const junctionSettings = z
  .object({
    url: z
      .string()
      .regex(
        /^ldaps?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/,
        'must be ldap://host[:port] or ldaps://host[:port]',
      ),
    startTls: z
      .boolean()
      .default(false)
      .describe('Upgrade an ldap:// connection with StartTLS before binding'),
    caCertificate: z
      .string()
      .includes('-----BEGIN CERTIFICATE-----', { message: 'must be a PEM certificate' })
      .optional()
      .describe('PEM CA that signed the directory server certificate; the system CAs when unset'),
    bindDn: dn.describe('Service account that searches for users'),
    baseDn: dn.describe('Where users and groups are searched'),
    domain: z
      .string()
      .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'must be a DNS domain, e.g. example.com')
      .describe('DNS domain: users sign in as user@domain'),
    netbiosName: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,15}$/, 'must be a NetBIOS domain name, e.g. EXAMPLE')
      .describe('Users sign in as NETBIOS\\user'),
    schema: z
      .enum(['ad', 'ldap'])
      .describe('ad: sAMAccountName and nested groups by LDAP_MATCHING_RULE_IN_CHAIN'),
    userObjectClass: attributeName.optional(),
    loginAttribute: attributeName.optional(),
    displayNameAttribute: attributeName.optional(),
    timeoutMs: z.number().int().min(500).max(60_000).default(10_000),
  })
  .refine((s) => !(s.startTls && s.url.startsWith('ldaps:')), {
    message: 'StartTLS applies to ldap:// only; ldaps:// is already encrypted',
    path: ['startTls'],
  });
export type JunctionSettings = z.infer<typeof junctionSettings>;

/** The attribute names in effect: the schema's defaults, overridden field by field. */
export function junctionAttributes(settings: JunctionSettings) {
  const defaults = DIRECTORY_SCHEMAS[settings.schema];
  return {
    userObjectClass: settings.userObjectClass ?? defaults.userObjectClass,
    loginAttribute: settings.loginAttribute ?? defaults.loginAttribute,
    displayNameAttribute: settings.displayNameAttribute ?? defaults.displayNameAttribute,
  };
}

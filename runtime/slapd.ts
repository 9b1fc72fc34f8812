import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, isPortOpen, run, stopChild, waitFor } from '../lib/processes';

/**
 * A private OpenLDAP server for tests (and for trying directory sign-in without a domain): cn=config
 * made with slapadd in its own folder, an mdb database, the memberOf overlay (so users and nested
 * groups carry memberOf, as in AD), plain LDAP with StartTLS and LDAPS when a certificate is given.
 */
export interface SlapdOptions {
  dir: string;
  suffix: string;
  rootPassword: string;
  /** Further cn=schema entries (LDIF), e.g. an attribute a test needs that the standard schemas lack. */
  schemaLdif?: string[];
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export interface Slapd {
  url: string;
  ldapsUrl?: string;
  rootDn: string;
  stop(): Promise<void>;
}

const MODULE_PATH = '/usr/lib/ldap';
const SCHEMAS = ['core', 'cosine', 'inetorgperson'];

function configLdif(options: SlapdOptions, dataDir: string, rootDn: string): string {
  const tls = options.tls
    ? [
        `olcTLSCertificateFile: ${options.tls.certFile}`,
        `olcTLSCertificateKeyFile: ${options.tls.keyFile}`,
        `olcTLSCACertificateFile: ${options.tls.caFile}`,
      ]
    : [];
  return (
    [
      [
        'dn: cn=config',
        'objectClass: olcGlobal',
        'cn: config',
        `olcPidFile: ${path.join(options.dir, 'slapd.pid')}`,
        ...tls,
      ],
      [
        'dn: cn=module{0},cn=config',
        'objectClass: olcModuleList',
        'cn: module{0}',
        `olcModulePath: ${MODULE_PATH}`,
        'olcModuleLoad: back_mdb',
        'olcModuleLoad: memberof',
      ],
      ['dn: cn=schema,cn=config', 'objectClass: olcSchemaConfig', 'cn: schema'],
      ...SCHEMAS.map((s) => [`include: file:///etc/ldap/schema/${s}.ldif`]),
      ...(options.schemaLdif ?? []).map((entry) => [entry.trim()]),
      [
        'dn: olcDatabase={-1}frontend,cn=config',
        'objectClass: olcDatabaseConfig',
        'objectClass: olcFrontendConfig',
        'olcDatabase: {-1}frontend',
      ],
      [
        'dn: olcDatabase={0}config,cn=config',
        'objectClass: olcDatabaseConfig',
        'olcDatabase: {0}config',
        'olcAccess: {0}to * by * none',
      ],
      [
        'dn: olcDatabase={1}mdb,cn=config',
        'objectClass: olcDatabaseConfig',
        'objectClass: olcMdbConfig',
        'olcDatabase: {1}mdb',
        `olcSuffix: ${options.suffix}`,
        `olcDbDirectory: ${dataDir}`,
        `olcRootDN: ${rootDn}`,
        `olcRootPW: ${options.rootPassword}`,
        // Passwords can be used to bind, never read; everything else is readable by bound users.
        'olcAccess: {0}to attrs=userPassword by anonymous auth by * none',
        'olcAccess: {1}to * by users read by * none',
      ],
      [
        'dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config',
        'objectClass: olcOverlayConfig',
        'objectClass: olcMemberOf',
        'olcOverlay: {0}memberof',
        'olcMemberOfRefInt: TRUE',
        'olcMemberOfGroupOC: groupOfNames',
        'olcMemberOfMemberAD: member',
        'olcMemberOfMemberOfAD: memberOf',
      ],
    ]
      .map((entry) => entry.join('\n'))
      .join('\n\n') + '\n'
  );
}

export async function startSlapd(options: SlapdOptions): Promise<Slapd> {
  const configDir = path.join(options.dir, 'slapd.d');
  const dataDir = path.join(options.dir, 'data');
  fs.mkdirSync(configDir, { recursive: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const rootDn = `cn=admin,${options.suffix}`;
  const ldif = path.join(options.dir, 'config.ldif');
  fs.writeFileSync(ldif, configLdif(options, dataDir, rootDn), { mode: 0o600 });
  await run('slapadd', ['-n', '0', '-F', configDir, '-l', ldif]);

  const port = await freePort();
  const ldapsPort = options.tls ? await freePort() : undefined;
  const urls = [`ldap://127.0.0.1:${port}/`, ...(ldapsPort ? [`ldaps://127.0.0.1:${ldapsPort}/`] : [])];
  const logFile = path.join(options.dir, 'slapd.log');
  const log = fs.openSync(logFile, 'a');
  // -d 0 keeps slapd in the foreground (a child we can stop) without debug output.
  const child = spawn('slapd', ['-F', configDir, '-h', urls.join(' '), '-d', '0'], {
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const ports = [port, ...(ldapsPort ? [ldapsPort] : [])];
  await waitFor('slapd', async () => (await Promise.all(ports.map((p) => isPortOpen(p)))).every(Boolean), {
    timeoutMs: 20_000,
    child,
    log: () => fs.readFileSync(logFile, 'utf8'),
  });
  return {
    url: `ldap://127.0.0.1:${port}`,
    ldapsUrl: ldapsPort ? `ldaps://127.0.0.1:${ldapsPort}` : undefined,
    rootDn,
    stop: () => stopChild(child),
  };
}

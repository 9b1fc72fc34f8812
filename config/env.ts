import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { engineNetnsProblems, NETNS_NAME } from './engine-netns';
import { protectedFolderUnder } from './host-paths';

/**
 * Every environment variable Lamina reads, validated in one place. Unset means "embedded default":
 * no TEMPORAL_ADDRESS starts a local Temporal dev server, no DATABASE_URL a private Postgres cluster.
 */
const port = z.coerce.number().int().min(1).max(65535);
const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();
/** A path to a PEM file that must exist and be readable when given. */
const optionalFile = optionalText.refine((v) => v === undefined || isReadableFile(v), {
  message: 'file does not exist or is not readable',
});
/**
 * PEM text in the variable itself (the `_DATA` forms, named as the Temporal CLI names them): how a
 * Compositing Engine, which has none of the appliance's files, gets its TLS material. A problem's message
 * never repeats the value (one of them is a private key).
 */
const optionalPem = (kind: 'CERTIFICATE' | 'PRIVATE KEY') =>
  optionalText.refine(
    (v) =>
      v === undefined ||
      new RegExp(`-----BEGIN [A-Z ]*${kind}-----[\\s\\S]+-----END [A-Z ]*${kind}-----`).test(v),
    {
      message: `must be PEM text (-----BEGIN ${kind}----- … -----END ${kind}-----); a file's path goes in the variable without _DATA`,
    },
  );

function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

function isReadableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The `_DATA` (PEM content) forms of TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, named as the
 * Temporal CLI and SDKs' environment configuration names them.
 */
export const TLS_DATA = {
  ca: 'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  cert: 'TEMPORAL_TLS_CLIENT_CERT_DATA',
  key: 'TEMPORAL_TLS_CLIENT_KEY_DATA',
} as const;

const envSchema = z.object({
  LAMINA_DATA_DIR: z.string().min(1).default('data'),
  LAMINA_API_HOST: z.string().min(1).default('127.0.0.1'),
  // 0 lets the kernel pick a free port (tests).
  LAMINA_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LAMINA_TASK_QUEUE: z.string().min(1).default('lamina-appliance'),
  LAMINA_COMPOSE_TASK_QUEUE: z.string().min(1).default('lamina-compose'),
  LAMINA_COMPOSE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  LAMINA_REPOSITORY_DIR: optionalText,
  LAMINA_REPOSITORY_MIN_FREE_GIB: z.coerce.number().min(0).default(5),
  LAMINA_DIAGNOSTICS_PROBE_MIB: z.coerce.number().int().min(1).max(65536).default(64),
  LAMINA_IMPORT_DIRS: optionalText,
  LAMINA_UPLOAD_MAX_MIB: z.coerce.number().int().min(1).max(1048576).default(4096),
  LAMINA_UPLOAD_TTL_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(24),
  TEMPORAL_ADDRESS: optionalText.refine((v) => v === undefined || /^[^\s:]+:\d{1,5}$/.test(v), {
    message: 'must be host:port, e.g. temporal.example.com:7233',
  }),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TLS: z.enum(['true', 'false']).default('false'),
  TEMPORAL_TLS_CA: optionalFile,
  TEMPORAL_TLS_CERT: optionalFile,
  TEMPORAL_TLS_KEY: optionalFile,
  [TLS_DATA.ca]: optionalPem('CERTIFICATE'),
  [TLS_DATA.cert]: optionalPem('CERTIFICATE'),
  [TLS_DATA.key]: optionalPem('PRIVATE KEY'),
  TEMPORAL_TLS_SERVER_NAME: optionalText,
  TEMPORAL_API_KEY: optionalText,
  LAMINA_TEMPORAL_PORT: port.default(7233),
  LAMINA_TEMPORAL_UI_PORT: port.default(8233),
  LAMINA_TEMPORAL_CLI: optionalText,
  LAMINA_TEMPORAL_UI_ORIGINS: optionalText.refine(
    (v) => v === undefined || v.split(',').every((o) => isOrigin(o.trim())),
    {
      message: 'must be comma-separated origins (scheme://host[:port]), e.g. https://temporal-ui.example.com',
    },
  ),
  DATABASE_URL: optionalText.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
    message: 'must be a postgres:// or postgresql:// URL',
  }),
  LAMINA_ADMIN_PASSWORD: optionalText.refine((v) => v === undefined || v.length >= 12, {
    message: 'must be at least 12 characters',
  }),
  LAMINA_MASTER_KEY: optionalText.refine((v) => v === undefined || Buffer.from(v, 'base64').length === 32, {
    message: 'must be 32 bytes in base64 (openssl rand -base64 32)',
  }),
  LAMINA_MASTER_KEY_FILE: optionalText,
  LAMINA_SESSION_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(8),
  LAMINA_COOKIE_SECURE: z.enum(['true', 'false']).default('false'),
  LAMINA_LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).default(5),
  LAMINA_LOGIN_LOCKOUT_SECONDS: z.coerce.number().positive().default(30),
  LAMINA_DIRECTORY_RECHECK_SECONDS: z.coerce.number().positive().max(3600).default(300),
  LAMINA_ISCSI_HOST: z.string().min(1).default('0.0.0.0'),
  LAMINA_ISCSI_PORT: port.default(3260),
  // tgtd's management channel (tgtd -C): 0-32767, 0 being the system tgt service's.
  LAMINA_ISCSI_CONTROL_PORT: z.coerce.number().int().min(0).max(32767).default(3260),
  LAMINA_ISCSI_CACHE_GIB: z.coerce.number().positive().default(64),
  LAMINA_CE_ADDRESS: z.string().min(1).default('127.0.0.1'),
  LAMINA_CE_NETNS: optionalText.refine((v) => v === undefined || NETNS_NAME.test(v), {
    message: 'must be a network namespace name as `ip netns add` takes it (letters, digits, _ . -)',
  }),
  LAMINA_CE_REGISTRATION_SECONDS: z.coerce.number().int().min(1).max(86400).default(600),
});

/** Each of CA, client certificate and key is given as a file (`…Path`) or as PEM text (`…Pem`), not both. */
export interface TemporalTlsConfig {
  caPath?: string;
  caPem?: string;
  certPath?: string;
  certPem?: string;
  keyPath?: string;
  /** A secret: never logged, never in a workflow's history. */
  keyPem?: string;
  serverName?: string;
}

export interface LaminaConfig {
  dataDir: string;
  repositoryDir: string;
  repositoryMinFreeBytes: number;
  /** Size of the file diagnostics writes to measure the repository's write throughput. */
  diagnosticsProbeBytes: number;
  api: { host: string; port: number };
  taskQueue: string;
  /** Disk-heavy activities (compose, layer disks) run here, at most `concurrency` per worker. */
  compose: { taskQueue: string; concurrency: number };
  /** Intermediate files of running tasks. */
  scratchDir: string;
  /** The only folders `diskPath` imports may read from (subfolders included). */
  importDirs: string[];
  /** Files uploaded for tasks: at most `maxBytes` each, removed when used or `ttlMs` after upload. */
  uploads: { dir: string; maxBytes: number; ttlMs: number };
  temporal: {
    /** Unset: Lamina starts its own dev server on `embeddedPort`, Web UI on `embeddedUiPort`. */
    address?: string;
    namespace: string;
    tls?: TemporalTlsConfig;
    apiKey?: string;
    embeddedPort: number;
    embeddedUiPort: number;
    cliPath?: string;
    /**
     * Web UI origins allowed to call the codec endpoint with the signed-in admin's session (CORS with
     * credentials): LAMINA_TEMPORAL_UI_ORIGINS, else the embedded dev server's UI under both host names.
     */
    uiOrigins: string[];
  };
  /** Unset: Lamina starts a private Postgres cluster under the data folder. */
  databaseUrl?: string;
  auth: AuthConfig;
  /** The AES-256-GCM master key for connector and directory secrets: from env, else from (or made in) the file. */
  masterKey: { base64?: string; file: string };
  /** The iSCSI target that serves layers to Compositing Engines (iscsi/). */
  iscsi: IscsiConfig;
  /** Compositing Engines (offloadCompose). */
  compositingEngines: {
    /** The appliance's address as engines reach it: its iSCSI portal and Temporal. */
    address: string;
    /** The network namespace (`ip netns`) the local connector's engine processes run in; unset: the host's. */
    networkNamespace?: string;
    /** How long an engine may take to register with its task before the task fails. */
    registrationSeconds: number;
  };
}

export interface IscsiConfig {
  /** Where initiators connect (listen address and port, 3260 by default). */
  portal: { host: string; port: number };
  /** tgtd's control port (-C); each tgtd on a machine needs its own. */
  controlPort: number;
  /** tgtd's log and pid file, and the raw exports of layers (`exports/`). */
  stateDir: string;
  /** Bound of the raw exports' allocated bytes. */
  cacheMaxBytes: number;
}

export interface AuthConfig {
  /** Unset: a password is generated at first start and printed once. */
  adminPassword?: string;
  sessionTtlMs: number;
  /** Marks the session cookie Secure; set it when the API is served over HTTPS (e.g. behind a proxy). */
  cookieSecure: boolean;
  /** Consecutive failed sign-ins that lock a login name; each further failure doubles the lock. */
  maxFailures: number;
  lockoutMs: number;
  /** How long a session or token trusts a directory user's groups before the directory is asked again. */
  directoryRecheckMs: number;
}

/** Thrown with every invalid variable listed, so one run shows all the mistakes. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): LaminaConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  for (const [file, data] of [
    ['TEMPORAL_TLS_CA', TLS_DATA.ca],
    ['TEMPORAL_TLS_CERT', TLS_DATA.cert],
    ['TEMPORAL_TLS_KEY', TLS_DATA.key],
  ] as const) {
    if (e[file] && e[data]) problems.push(`${file} and ${data}: give the file or its content, not both`);
  }
  const ca = e.TEMPORAL_TLS_CA || e[TLS_DATA.ca];
  const cert = e.TEMPORAL_TLS_CERT || e[TLS_DATA.cert];
  const key = e.TEMPORAL_TLS_KEY || e[TLS_DATA.key];
  if (Boolean(cert) !== Boolean(key)) {
    problems.push(
      `TEMPORAL_TLS_CERT (or ${TLS_DATA.cert}) and TEMPORAL_TLS_KEY (or ${TLS_DATA.key}): set both for mTLS, or neither`,
    );
  }
  const wantsTls = e.TEMPORAL_TLS === 'true' || Boolean(ca || cert || e.TEMPORAL_API_KEY);
  if (wantsTls && !e.TEMPORAL_ADDRESS) {
    problems.push(
      'TEMPORAL_TLS*/TEMPORAL_API_KEY: only apply to an external cluster; set TEMPORAL_ADDRESS too',
    );
  }
  if (e.LAMINA_TEMPORAL_PORT === e.LAMINA_TEMPORAL_UI_PORT) {
    problems.push('LAMINA_TEMPORAL_UI_PORT: must differ from LAMINA_TEMPORAL_PORT');
  }
  if (e.LAMINA_CE_NETNS) problems.push(...engineNetnsProblems(e.LAMINA_CE_NETNS, e.LAMINA_CE_ADDRESS));
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = path.resolve(e.LAMINA_DATA_DIR);
  const importDirs = (e.LAMINA_IMPORT_DIRS ?? path.join(dataDir, 'import'))
    .split(':')
    .filter(Boolean)
    .map((dir) => path.resolve(dir));
  const repositoryDir = path.resolve(e.LAMINA_REPOSITORY_DIR ?? path.join(dataDir, 'repository'));
  const exposed = importDirs.flatMap((dir) => {
    const folder = protectedFolderUnder(dir, [dataDir, repositoryDir]);
    return folder
      ? [`LAMINA_IMPORT_DIRS: ${dir} holds ${folder}; name folders that only hold disks to import`]
      : [];
  });
  if (exposed.length > 0) throw new ConfigError(exposed);
  return {
    dataDir,
    repositoryDir,
    repositoryMinFreeBytes: Math.round(e.LAMINA_REPOSITORY_MIN_FREE_GIB * 1024 ** 3),
    diagnosticsProbeBytes: e.LAMINA_DIAGNOSTICS_PROBE_MIB * 1024 ** 2,
    api: { host: e.LAMINA_API_HOST, port: e.LAMINA_API_PORT },
    taskQueue: e.LAMINA_TASK_QUEUE,
    compose: { taskQueue: e.LAMINA_COMPOSE_TASK_QUEUE, concurrency: e.LAMINA_COMPOSE_CONCURRENCY },
    scratchDir: path.join(dataDir, 'scratch'),
    importDirs,
    uploads: {
      dir: path.join(dataDir, 'uploads'),
      maxBytes: e.LAMINA_UPLOAD_MAX_MIB * 2 ** 20,
      ttlMs: e.LAMINA_UPLOAD_TTL_HOURS * 3600_000,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      tls: wantsTls
        ? {
            caPath: e.TEMPORAL_TLS_CA,
            caPem: e[TLS_DATA.ca],
            certPath: e.TEMPORAL_TLS_CERT,
            certPem: e[TLS_DATA.cert],
            keyPath: e.TEMPORAL_TLS_KEY,
            keyPem: e[TLS_DATA.key],
            serverName: e.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
      apiKey: e.TEMPORAL_API_KEY,
      embeddedPort: e.LAMINA_TEMPORAL_PORT,
      embeddedUiPort: e.LAMINA_TEMPORAL_UI_PORT,
      cliPath: e.LAMINA_TEMPORAL_CLI,
      uiOrigins: e.LAMINA_TEMPORAL_UI_ORIGINS
        ? e.LAMINA_TEMPORAL_UI_ORIGINS.split(',').map((o) => o.trim())
        : e.TEMPORAL_ADDRESS
          ? []
          : [
              `http://127.0.0.1:${e.LAMINA_TEMPORAL_UI_PORT}`,
              `http://localhost:${e.LAMINA_TEMPORAL_UI_PORT}`,
            ],
    },
    databaseUrl: e.DATABASE_URL,
    auth: {
      adminPassword: e.LAMINA_ADMIN_PASSWORD,
      sessionTtlMs: e.LAMINA_SESSION_HOURS * 3600_000,
      cookieSecure: e.LAMINA_COOKIE_SECURE === 'true',
      maxFailures: e.LAMINA_LOGIN_MAX_FAILURES,
      lockoutMs: e.LAMINA_LOGIN_LOCKOUT_SECONDS * 1000,
      directoryRecheckMs: e.LAMINA_DIRECTORY_RECHECK_SECONDS * 1000,
    },
    masterKey: {
      base64: e.LAMINA_MASTER_KEY,
      file: path.resolve(e.LAMINA_MASTER_KEY_FILE ?? path.join(dataDir, 'master.key')),
    },
    iscsi: {
      portal: { host: e.LAMINA_ISCSI_HOST, port: e.LAMINA_ISCSI_PORT },
      controlPort: e.LAMINA_ISCSI_CONTROL_PORT,
      stateDir: path.join(dataDir, 'iscsi'),
      cacheMaxBytes: Math.round(e.LAMINA_ISCSI_CACHE_GIB * 1024 ** 3),
    },
    compositingEngines: {
      address: e.LAMINA_CE_ADDRESS,
      networkNamespace: e.LAMINA_CE_NETNS,
      registrationSeconds: e.LAMINA_CE_REGISTRATION_SECONDS,
    },
  };
}

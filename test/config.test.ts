import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config/env';

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults to the embedded services when nothing is set', () => {
    const config = loadConfig({});
    expect(config.temporal.address).toBeUndefined();
    expect(config.databaseUrl).toBeUndefined();
    expect(config.temporal.embeddedUiPort).toBe(8233);
    expect(config.api.port).toBe(8080);
    expect(config.repositoryDir).toMatch(/data\/repository$/);
  });

  it('switches to real infrastructure when addresses are given', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.example.com:7233',
      TEMPORAL_NAMESPACE: 'lamina',
      TEMPORAL_TLS: 'true',
      DATABASE_URL: 'postgres://lamina@db.example.com/lamina',
    });
    expect(config.temporal).toMatchObject({
      address: 'temporal.example.com:7233',
      namespace: 'lamina',
      tls: {},
    });
    expect(config.databaseUrl).toBe('postgres://lamina@db.example.com/lamina');
  });

  it('lists every bad variable in one error, each with its reason', () => {
    const problems = problemsOf({
      LAMINA_API_PORT: 'eighty',
      TEMPORAL_ADDRESS: 'http://nope',
      DATABASE_URL: 'mysql://x',
      TEMPORAL_TLS_CA: '/does/not/exist.pem',
    });
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/LAMINA_API_PORT/);
    expect(problems.join('\n')).toMatch(/TEMPORAL_ADDRESS: must be host:port/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL: must be a postgres/);
    expect(problems.join('\n')).toMatch(/TEMPORAL_TLS_CA: file does not exist/);
  });

  it('rejects combinations that cannot work', () => {
    const problems = problemsOf({
      TEMPORAL_TLS: 'true',
      LAMINA_TEMPORAL_PORT: '9000',
      LAMINA_TEMPORAL_UI_PORT: '9000',
    });
    expect(problems).toEqual([
      expect.stringMatching(/^TEMPORAL_TLS\*\/TEMPORAL_API_KEY: only apply to an external cluster/),
      expect.stringMatching(/^LAMINA_TEMPORAL_UI_PORT: must differ/),
    ]);
  });

  describe('Temporal TLS material: a file or its PEM content (the _DATA forms)', () => {
    const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
    const KEY = '-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lamina-config-tls-'));
    const file = (name: string, text: string) => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const external = { TEMPORAL_ADDRESS: 'temporal.example.com:7233' };
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('takes the CA, client certificate and key as PEM text, and implies TLS', () => {
      const config = loadConfig({
        ...external,
        TEMPORAL_TLS_SERVER_CA_CERT_DATA: CERT,
        TEMPORAL_TLS_CLIENT_CERT_DATA: CERT,
        TEMPORAL_TLS_CLIENT_KEY_DATA: KEY,
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      });
      expect(config.temporal.tls).toEqual({
        caPem: CERT.trim(),
        certPem: CERT.trim(),
        keyPem: KEY.trim(),
        serverName: 'temporal.internal',
      });
    });

    it('mixes the forms item by item (a CA file, the client pair as text)', () => {
      const ca = file('ca.pem', CERT);
      const config = loadConfig({
        ...external,
        TEMPORAL_TLS_CA: ca,
        TEMPORAL_TLS_CLIENT_CERT_DATA: CERT,
        TEMPORAL_TLS_CLIENT_KEY_DATA: KEY,
      });
      expect(config.temporal.tls).toMatchObject({ caPath: ca, certPem: CERT.trim(), keyPem: KEY.trim() });
    });

    it('refuses one item given both as a file and as text, naming both variables', () => {
      const problems = problemsOf({
        ...external,
        TEMPORAL_TLS_CA: file('ca.pem', CERT),
        TEMPORAL_TLS_SERVER_CA_CERT_DATA: CERT,
        TEMPORAL_TLS_CERT: file('cert.pem', CERT),
        TEMPORAL_TLS_CLIENT_CERT_DATA: CERT,
        TEMPORAL_TLS_KEY: file('key.pem', KEY),
        TEMPORAL_TLS_CLIENT_KEY_DATA: KEY,
      });
      expect(problems).toEqual([
        'TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_CA_CERT_DATA: give the file or its content, not both',
        'TEMPORAL_TLS_CERT and TEMPORAL_TLS_CLIENT_CERT_DATA: give the file or its content, not both',
        'TEMPORAL_TLS_KEY and TEMPORAL_TLS_CLIENT_KEY_DATA: give the file or its content, not both',
      ]);
    });

    it('refuses text that is not PEM (a path in a _DATA variable, a certificate as the key), never echoing it', () => {
      const problems = problemsOf({
        ...external,
        TEMPORAL_TLS_SERVER_CA_CERT_DATA: '/etc/temporal/ca.pem',
        TEMPORAL_TLS_CLIENT_CERT_DATA: CERT,
        TEMPORAL_TLS_CLIENT_KEY_DATA: CERT,
      });
      expect(problems).toEqual([
        expect.stringMatching(
          /^TEMPORAL_TLS_SERVER_CA_CERT_DATA: must be PEM text \(-----BEGIN CERTIFICATE-----.*a file's path goes in the variable without _DATA$/,
        ),
        expect.stringMatching(
          /^TEMPORAL_TLS_CLIENT_KEY_DATA: must be PEM text \(-----BEGIN PRIVATE KEY-----/,
        ),
      ]);
      expect(problems.join('\n')).not.toContain('/etc/temporal/ca.pem');
      expect(problems.join('\n')).not.toContain('MIIBcert');
    });

    it('wants the client certificate and key together, in either form', () => {
      const pairProblem = expect.stringMatching(
        /^TEMPORAL_TLS_CERT \(or TEMPORAL_TLS_CLIENT_CERT_DATA\) and TEMPORAL_TLS_KEY \(or TEMPORAL_TLS_CLIENT_KEY_DATA\): set both for mTLS, or neither$/,
      );
      expect(problemsOf({ ...external, TEMPORAL_TLS_CLIENT_CERT_DATA: CERT })).toEqual([pairProblem]);
      expect(problemsOf({ ...external, TEMPORAL_TLS_KEY: file('key.pem', KEY) })).toEqual([pairProblem]);
      expect(
        loadConfig({
          ...external,
          TEMPORAL_TLS_CERT: file('cert.pem', CERT),
          TEMPORAL_TLS_CLIENT_KEY_DATA: KEY,
        }).temporal.tls,
      ).toMatchObject({ certPath: path.join(dir, 'cert.pem'), keyPem: KEY.trim() });
    });

    it('wants an external cluster for TLS given as text too', () => {
      expect(problemsOf({ TEMPORAL_TLS_SERVER_CA_CERT_DATA: CERT })).toEqual([
        expect.stringMatching(/^TEMPORAL_TLS\*\/TEMPORAL_API_KEY: only apply to an external cluster/),
      ]);
    });
  });
});

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
});

import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { loadSecretBox } from '../../config/master-key';
import { keyId, SecretBox, type SealedSecret } from '../../config/secret-box';
import { run } from '../../lib/processes';
import { projectRoot } from '../../lib/project-root';
import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, testDir, type TestDatabase } from '../harness';
import { administratorClient } from '../api-client';

describe('secret box (AES-256-GCM)', () => {
  const box = new SecretBox([Buffer.alloc(32, 1)]);

  it('round-trips, with a fresh nonce per seal', () => {
    const a = box.seal('p@ssw0rd');
    expect(box.open(a)).toBe('p@ssw0rd');
    expect(box.seal('p@ssw0rd').iv).not.toBe(a.iv);
    expect(JSON.stringify(a)).not.toContain('p@ssw0rd');
  });

  it('refuses tampered ciphertext and keys it does not hold', () => {
    const sealed = box.seal('secret');
    const flipped = Buffer.from(sealed.data, 'base64');
    flipped[0] ^= 1;
    expect(() => box.open({ ...sealed, data: flipped.toString('base64') })).toThrow();
    const other = new SecretBox([Buffer.alloc(32, 2)]);
    expect(() => other.open(sealed)).toThrow(`sealed with master key ${keyId(Buffer.alloc(32, 1))}`);
  });

  it('makes the key file at first start, readable by its owner only', () => {
    const file = path.join(testDir('key'), 'master.key');
    loadSecretBox({ masterKey: { file } });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadSecretBox({ masterKey: { file } }).sealingKeyId).toBe(
      keyId(Buffer.from(fs.readFileSync(file, 'utf8'), 'base64')),
    );
  });
});

describe('lamina admin rotate-key', () => {
  let db: TestDatabase;
  let stack: Stack;
  let dataDir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    const config = testConfig(db.url);
    dataDir = config.dataDir;
    stack = await startTestStack(config, { worker: false });
    const api = await administratorClient(stack);
    await api.post('/api/connectors', {
      type: 'vsphere',
      name: 'vSphere',
      settings: { vcenter: 'vc', user: 'u', datacenter: 'd', host: 'h', datastore: 'ds', network: 'n' },
      secrets: { password: 'vsphere-password' },
    });
    await api.post('/api/directory-junctions', {
      name: 'AD',
      settings: {
        url: 'ldaps://dc1.example.com',
        bindDn: 'CN=svc,DC=example,DC=com',
        baseDn: 'DC=example,DC=com',
        schema: 'ad',
        domain: 'example.com',
        netbiosName: 'EXAMPLE',
      },
      bindPassword: 'bind-password',
    });
    // Rotation is an offline step: the API is stopped, as the command's help asks.
    await stack.stop();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const lamina = (env: Record<string, string>) =>
    run(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'admin', 'rotate-key'], {
      env: { PATH: process.env.PATH, DATABASE_URL: db.url, LAMINA_DATA_DIR: dataDir, ...env },
    });

  const sealedSecrets = async (): Promise<SealedSecret[]> => {
    const pool = new Pool({ connectionString: db.url });
    try {
      const c = await pool.query<{ secrets: Record<string, SealedSecret> }>('SELECT secrets FROM connectors');
      const j = await pool.query<{ bind_password: SealedSecret }>(
        'SELECT bind_password FROM directory_junctions',
      );
      return [...c.rows.flatMap((r) => Object.values(r.secrets)), ...j.rows.map((r) => r.bind_password)];
    } finally {
      await pool.end();
    }
  };

  it('re-encrypts every secret under a new key and keeps the old one for opening only', async () => {
    const keyFile = path.join(dataDir, 'master.key');
    const oldKey = fs.readFileSync(keyFile, 'utf8');
    const before = await sealedSecrets();
    expect(before).toHaveLength(2);

    const output = await lamina({});
    const newKey = fs.readFileSync(keyFile, 'utf8');
    const newId = keyId(Buffer.from(newKey, 'base64'));
    expect(output).toContain(`-> ${newId}: 2 secret(s) re-encrypted`);
    expect(newKey).not.toBe(oldKey);
    expect(fs.readFileSync(`${keyFile}.previous`, 'utf8')).toBe(oldKey);
    expect(fs.existsSync(`${keyFile}.next`)).toBe(false);

    const after = await sealedSecrets();
    expect(after.map((s) => s.kid)).toEqual([newId, newId]);
    const onlyNewKey = new SecretBox([Buffer.from(newKey, 'base64')]);
    expect(after.map((s) => onlyNewKey.open(s)).sort()).toEqual(['bind-password', 'vsphere-password']);
  });

  it('refuses to rotate a key that comes from LAMINA_MASTER_KEY', async () => {
    await expect(lamina({ LAMINA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') })).rejects.toThrow(
      /LAMINA_MASTER_KEY, which this command cannot change/,
    );
  });
});

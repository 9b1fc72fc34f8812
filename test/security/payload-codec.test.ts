import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import {
  codecFromPayloadKeys,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  PAYLOAD_KEYS_VARIABLE,
  PayloadDecryptionError,
  PayloadEncryptionCodec,
} from '../../config/payload-codec';
import { keyId, SecretBox } from '../../config/secret-box';
import { engineEnvironment } from '../../runtime/engine-environment';
import type { Stack } from '../../runtime/stack';
import { temporalCliPath } from '../../runtime/temporal-dev-server';
import { ADMINISTRATOR, administratorClient, ApiClient, sessionClient } from '../api-client';
import {
  createTestDatabase,
  harnessValue,
  startTestStack,
  testConfig,
  testDir,
  type TestDatabase,
} from '../harness';

const UI_ORIGIN = 'http://127.0.0.1:8233';
const text = (value: string) => Buffer.from(value);
const clearPayload = (value: unknown): Payload => ({
  metadata: { [METADATA_ENCODING_KEY]: text('json/plain') },
  data: text(JSON.stringify(value)),
});
const encodingOf = (payload: Payload) => Buffer.from(payload.metadata![METADATA_ENCODING_KEY]!).toString();
/** A payload as the remote codec protocol carries it (protobuf JSON: base64 metadata values and data). */
const toJson = (payload: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(payload.data ?? []).toString('base64'),
});

/** Every payload in a history, with where it sits (search attributes are indexed, never encoded). */
function payloadsOf(value: unknown, where = ''): { where: string; payload: Payload }[] {
  if (!value || typeof value !== 'object' || ArrayBuffer.isView(value)) return [];
  const record = value as Record<string, unknown>;
  if (ArrayBuffer.isView(record.data) && record.metadata && typeof record.metadata === 'object') {
    return [{ where, payload: record as Payload }];
  }
  return Object.entries(record).flatMap(([key, child]) => payloadsOf(child, `${where}.${key}`));
}

describe('payload codec', () => {
  const keys = [randomBytes(32), randomBytes(32)];

  it('encrypts under a key derived from the master key, named in the metadata', async () => {
    const [sealed] = await new PayloadEncryptionCodec([keys[0]]).encode([clearPayload({ path: 'C:\\x' })]);
    expect(encodingOf(sealed)).toBe(ENCRYPTED_ENCODING);
    const kid = Buffer.from(sealed.metadata![KEY_ID_METADATA]!).toString();
    expect(kid).toMatch(/^[0-9a-f]{16}$/);
    // Not the master key's id (the secret box's): the codec key is its own HKDF-derived key.
    expect(kid).not.toBe(keyId(keys[0]));
    expect(Buffer.from(sealed.data!).includes('C:\\\\x')).toBe(false);
  });

  it('passes payloads without the encrypted encoding through unchanged (histories from before the codec)', async () => {
    const clear = clearPayload({ template: 'Win11 sales' });
    expect(await new PayloadEncryptionCodec([keys[0]]).decode([clear])).toEqual([clear]);
  });

  it('opens payloads of a rotated-away key while the ring holds it, and names the key once it does not', async () => {
    const [old] = await new PayloadEncryptionCodec([keys[0]]).encode([clearPayload('before rotation')]);
    const [opened] = await new PayloadEncryptionCodec([keys[1], keys[0]]).decode([old]);
    expect(JSON.parse(Buffer.from(opened.data!).toString())).toBe('before rotation');
    await expect(new PayloadEncryptionCodec([keys[1]]).decode([old])).rejects.toThrow(
      /payload 0 was encrypted with key [0-9a-f]{16}, which this appliance does not hold/,
    );
  });

  it('refuses an altered payload or key id with a clear error', async () => {
    const codec = new PayloadEncryptionCodec([keys[0]]);
    const [sealed] = await codec.encode([clearPayload('untouched')]);
    const flipped = Buffer.from(sealed.data!);
    flipped[20] ^= 1;
    const tampered = { ...sealed, data: flipped };
    await expect(codec.decode([tampered])).rejects.toThrow(PayloadDecryptionError);
    await expect(codec.decode([tampered])).rejects.toThrow(
      /payload 0 failed authentication under key [0-9a-f]{16}: it was altered after it was encrypted/,
    );
    const otherKid = { ...sealed, metadata: { ...sealed.metadata, [KEY_ID_METADATA]: text('0'.repeat(16)) } };
    await expect(codec.decode([otherKid])).rejects.toThrow(/does not hold/);
  });

  it("gives a Compositing Engine the codec's keys, which open its payloads but no stored secret", async () => {
    const config = {
      temporal: { namespace: 'default' },
      compositingEngines: { address: '10.0.0.5' },
    } as Parameters<typeof engineEnvironment>[0];
    const environment = engineEnvironment(config, '127.0.0.1:7233', keys);
    expect(environment.TEMPORAL_ADDRESS).toBe('10.0.0.5:7233');
    expect(environment).not.toHaveProperty('LAMINA_MASTER_KEY');
    for (const key of keys) {
      expect(Object.values(environment).join('\n')).not.toContain(key.toString('base64'));
      expect(Object.values(environment).join('\n')).not.toContain(key.toString('hex'));
    }

    // Both ways between the appliance and the engine, including a payload sealed before a rotation.
    const engine = codecFromPayloadKeys(environment[PAYLOAD_KEYS_VARIABLE]);
    const appliance = new PayloadEncryptionCodec(keys);
    const [beforeRotation] = await new PayloadEncryptionCodec([keys[1]]).encode([clearPayload('old')]);
    const [fromAppliance] = await appliance.encode([clearPayload({ layer: 'Office' })]);
    const opened = await engine.decode([fromAppliance, beforeRotation]);
    expect(opened.map((p) => JSON.parse(Buffer.from(p.data!).toString()))).toEqual([
      { layer: 'Office' },
      'old',
    ]);
    const [fromEngine] = await engine.encode([clearPayload('report')]);
    expect(JSON.parse(Buffer.from((await appliance.decode([fromEngine]))[0].data!).toString())).toBe(
      'report',
    );

    // The engine's keys cannot open what the master key seals (connector passwords, tokens).
    const sealed = new SecretBox(keys).seal('vCenter password');
    const engineKeys = environment[PAYLOAD_KEYS_VARIABLE].split(',').map((k) => Buffer.from(k, 'base64'));
    expect(() => new SecretBox(engineKeys).open(sealed)).toThrow();
    expect(() => codecFromPayloadKeys('c2hvcnQ=')).toThrow(
      `${PAYLOAD_KEYS_VARIABLE} must hold 32-byte base64 keys, comma-separated`,
    );
  });
});

describe('payloads in Temporal history', () => {
  let db: TestDatabase;
  let stack: Stack;
  let admin: ApiClient;
  let history: temporal.api.history.v1.IHistory;
  let taskId: string;
  const connectorName = `Codec probe ${randomBytes(4).toString('hex')}`;
  const storagePool = testDir('codec-pool');

  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startTestStack(testConfig(db.url, { LAMINA_TEMPORAL_UI_ORIGINS: UI_ORIGIN }));
    admin = await administratorClient(stack);
    const { body: connector } = await admin.post('/api/connectors', {
      type: 'local',
      name: connectorName,
      settings: { storagePool },
    });
    const started = await admin.post(`/api/connectors/${connector.id}/test`);
    expect(started.status).toBe(202);
    taskId = started.body.id;
    const done = await admin.get(`/api/tasks/${taskId}/wait?timeout=60`);
    expect(done.body).toMatchObject({ state: 'completed', result: { name: connectorName, ok: true } });
    // Read as anyone with access to the Temporal server would: a client without the codec.
    const plain = new Client({
      connection: stack.client.connection,
      namespace: stack.client.options.namespace,
    });
    const response = await plain.workflowService.getWorkflowExecutionHistory({
      namespace: plain.options.namespace,
      execution: { workflowId: taskId },
    });
    history = response.history!;
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('holds every workflow and activity payload encrypted, and the names and paths nowhere in clear text', () => {
    const payloads = payloadsOf(history);
    const encoded = payloads.filter(({ where }) => !where.includes('.searchAttributes.'));
    // Workflow input, the summary, the activity's input and result, the workflow's result.
    expect(encoded.map(({ where }) => where)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/workflowExecutionStartedEventAttributes\.input\.payloads/),
        expect.stringMatching(/userMetadata\.summary/),
        expect.stringMatching(/activityTaskScheduledEventAttributes\.input\.payloads/),
        expect.stringMatching(/activityTaskCompletedEventAttributes\.result\.payloads/),
        expect.stringMatching(/workflowExecutionCompletedEventAttributes\.result\.payloads/),
      ]),
    );
    for (const { where, payload } of encoded) {
      expect(`${where}: ${encodingOf(payload)}`).toBe(`${where}: ${ENCRYPTED_ENCODING}`);
      expect(Buffer.from(payload.metadata![KEY_ID_METADATA]!).toString()).toMatch(/^[0-9a-f]{16}$/);
    }
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    expect(raw.includes(connectorName)).toBe(false);
    expect(raw.includes(storagePool)).toBe(false);
    // The user name is a search attribute (the task list filters on it) and nowhere else.
    const started = history.events![0].workflowExecutionStartedEventAttributes!;
    expect(payloadsOf(started.searchAttributes).length).toBeGreaterThan(0);
    const withoutSearchAttributes = temporal.api.history.v1.History.decode(raw);
    withoutSearchAttributes.events[0].workflowExecutionStartedEventAttributes!.searchAttributes = null;
    const rest = Buffer.from(temporal.api.history.v1.History.encode(withoutSearchAttributes).finish());
    expect(rest.includes(ADMINISTRATOR.name)).toBe(false);
  });

  it('shows the task decrypted through the API (summary and result)', async () => {
    const { body } = await admin.get(`/api/tasks/${taskId}`);
    expect(body.summary).toBe(`Test connector configuration '${connectorName}' (requested by administrator)`);
    expect(body.result.checks[0].message).toContain(storagePool);
  });

  describe('codec endpoint', () => {
    const resultPayload = () =>
      history.events!.find((e) => e.workflowExecutionCompletedEventAttributes)!
        .workflowExecutionCompletedEventAttributes!.result!.payloads![0] as Payload;

    it('decodes history payloads for an Administrator', async () => {
      const decoded = await admin.post('/api/temporal-codec/decode', { payloads: [toJson(resultPayload())] });
      expect(decoded.status).toBe(200);
      const [payload] = decoded.body.payloads;
      expect(Buffer.from(payload.metadata.encoding, 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(payload.data, 'base64').toString())).toMatchObject({
        name: connectorName,
      });
      // Who read task payloads in clear text is on record (the audit log is written after the answer).
      const deadline = Date.now() + 10_000;
      let audited = await admin.get('/api/audit?action=decodeTemporalPayloads');
      while (audited.body.items.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        audited = await admin.get('/api/audit?action=decodeTemporalPayloads');
      }
      expect(audited.body.items[0]).toMatchObject({
        actor: 'administrator',
        outcome: 'success',
        status: 200,
      });
    });

    it("serves the Temporal CLI's codec client too (an administrator's API token as its authorization)", async () => {
      const token = admin.headers.authorization;
      // Asynchronously: the API answering the CLI's codec calls runs in this process.
      const { stdout: shown } = await promisify(execFile)(
        temporalCliPath(),
        [
          'workflow',
          'show',
          '--workflow-id',
          taskId,
          '--address',
          harnessValue('temporalAddress'),
          '--namespace',
          stack.client.options.namespace,
          '--output',
          'json',
          '--codec-endpoint',
          `${stack.apiUrl}/api/temporal-codec`,
          '--codec-auth',
          token,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      // Its JSON keeps payloads in protobuf JSON form (base64), decoded.
      const [started] = JSON.parse(shown).events;
      expect(Buffer.from(started.userMetadata.summary.data, 'base64').toString()).toContain(connectorName);
      expect(shown).not.toContain(Buffer.from(ENCRYPTED_ENCODING).toString('base64'));
    });

    it('encodes and passes unencrypted payloads through', async () => {
      const clear = toJson(clearPayload({ note: 'clear' }));
      const encoded = await admin.post('/api/temporal-codec/encode', { payloads: [clear] });
      expect(encoded.status).toBe(200);
      expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe(
        ENCRYPTED_ENCODING,
      );
      const decoded = await admin.post('/api/temporal-codec/decode', {
        payloads: [encoded.body.payloads[0], clear],
      });
      expect(decoded.body.payloads).toEqual([clear, clear]);
    });

    it('refuses a tampered payload with a 422 naming it', async () => {
      const payload = toJson(resultPayload());
      const data = Buffer.from(payload.data, 'base64');
      data[data.length - 1] ^= 1;
      const refused = await admin.post('/api/temporal-codec/decode', {
        payloads: [{ ...payload, data: data.toString('base64') }],
      });
      expect(refused.status).toBe(422);
      expect(refused.body.detail).toMatch(/payload 0 failed authentication .*altered after it was encrypted/);
    });

    it('refuses a Reader (403) and an anonymous caller (401)', async () => {
      const body = { payloads: [toJson(resultPayload())] };
      const dn = 'cn=codec-reader,ou=people,dc=example,dc=com';
      await stack.pool.query(
        `INSERT INTO role_assignments (id, role, principal_type, principal) VALUES ($1, 'Reader', 'user', $2)`,
        [randomUUID(), dn],
      );
      const reader = await sessionClient(stack, {
        name: 'reader@example.com',
        kind: 'directory',
        dn,
        groups: [],
      });
      const denied = await reader.post('/api/temporal-codec/decode', body);
      expect(denied.status).toBe(403);
      expect(denied.body.detail).toMatch(/'tasks\.decode' permission, which none of your roles \(Reader\)/);
      expect(denied.text).not.toContain(connectorName);
      const anonymous = await new ApiClient(stack.apiUrl!).post('/api/temporal-codec/decode', body);
      expect(anonymous.status).toBe(401);
    });

    it('answers the Web UI origin with CORS and its session cookie, and no other origin', async () => {
      const preflight = await fetch(`${stack.apiUrl}/api/temporal-codec/decode`, {
        method: 'OPTIONS',
        headers: {
          origin: UI_ORIGIN,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
      expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/);

      const session = await sessionClient(stack, ADMINISTRATOR);
      const fromUi = new ApiClient(stack.apiUrl!, {
        ...session.headers,
        origin: UI_ORIGIN,
        'x-namespace': 'default',
      });
      const decoded = await fromUi.post('/api/temporal-codec/decode', {
        payloads: [toJson(resultPayload())],
      });
      expect(decoded.status).toBe(200);
      expect(decoded.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);

      // Another site's page cannot use the admin's cookie, here or anywhere else.
      const elsewhere = new ApiClient(stack.apiUrl!, { ...session.headers, origin: 'http://evil.example' });
      const refused = await elsewhere.post('/api/temporal-codec/decode', {
        payloads: [toJson(resultPayload())],
      });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      const otherRoute = new ApiClient(stack.apiUrl!, { ...session.headers, origin: UI_ORIGIN });
      expect((await otherRoute.post('/api/tasks/diagnostics')).status).toBe(401);
    });
  });
});

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { registrationProof } from '../../activities/offload-engines';
import { loadConfig, type LaminaConfig } from '../../config/env';
import { PAYLOAD_KEYS_VARIABLE, PayloadEncryptionCodec } from '../../config/payload-codec';
import { projectRoot } from '../../lib/project-root';
import { engineEnvironment } from '../../runtime/engine-environment';
import { connectClient } from '../../runtime/temporal-connection';
import { eventually, harnessValue, testDir } from '../harness';

/**
 * A Compositing Engine reaches a TLS (mTLS) Temporal cluster with what engineEnvironment() gives it, and
 * nothing else: the appliance is configured with TLS files, the engine gets their content as the `_DATA`
 * variables, and a `lamina ce` process started with exactly that environment connects, polls its queue
 * and signals its task.
 *
 * The harness's Temporal dev server has no TLS (`temporal server start-dev` takes no TLS flags), so a
 * TLS-terminating proxy stands in for a TLS-enabled frontend: a real TLS endpoint (node's tls server, ALPN
 * h2, a client certificate required and checked against the test CA) in front of the real server, to whose
 * plaintext gRPC port it pipes the decrypted stream (gRPC over h2c uses prior knowledge, so the HTTP/2
 * frames pass through unchanged). Its certificate names only `temporal.lamina.test`, so the server name
 * must travel to the engine too. The certificates come from a CA made with openssl for this run.
 */

jest.setTimeout(180_000);

const SERVER_NAME = 'temporal.lamina.test';

let dir: string;
let proxy: tls.Server;
let proxyAddress: string;
const proxied = new Set<net.Socket>();
/** The proxy's verdict on every handshake it refused. */
const refusals: string[] = [];
let config: LaminaConfig;
let connection: Connection;
let client: Client;
const keys = [randomBytes(32)];
const engines: ChildProcess[] = [];

/** Runs openssl in the test's folder; `command` is split at spaces (no argument here has one). */
function openssl(command: string): void {
  execFileSync('openssl', command.split(' '), { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for SERVER_NAME and a client certificate, all issued by the CA. */
function makeCertificates(): void {
  const ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
  openssl(
    `req -x509 ${ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=Lamina-test-CA ` +
      '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign',
  );
  const issue = (name: string, extensions: string[]) => {
    openssl(`req ${ec} -keyout ${name}.key -out ${name}.csr -subj /CN=${name}`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), extensions.join('\n'));
    openssl(
      `x509 -req -in ${name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 ` +
        `-extfile ${name}.ext -out ${name}.pem`,
    );
  };
  const leaf = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature'];
  issue('server', [...leaf, 'extendedKeyUsage=serverAuth', `subjectAltName=DNS:${SERVER_NAME}`]);
  issue('client', [...leaf, 'extendedKeyUsage=clientAuth']);
}

const file = (name: string) => path.join(dir, name);
const pemOf = (name: string) => fs.readFileSync(file(name), 'utf8');

async function startProxy(): Promise<void> {
  const temporal = harnessValue('temporalAddress');
  const [host, port] = [temporal.slice(0, temporal.lastIndexOf(':')), Number(temporal.split(':').pop())];
  proxy = tls.createServer(
    {
      key: pemOf('server.key'),
      cert: pemOf('server.pem'),
      ca: pemOf('ca.pem'),
      ALPNProtocols: ['h2'],
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      const upstream = net.connect(port, host);
      proxied.add(socket).add(upstream);
      const close = () => {
        socket.destroy();
        upstream.destroy();
        proxied.delete(socket);
        proxied.delete(upstream);
      };
      socket.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      socket.pipe(upstream).pipe(socket);
    },
  );
  proxy.on('tlsClientError', (err) => refusals.push(err.message));
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyAddress = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
}

/** `lamina ce` with exactly `environment` (and the PATH, HOME and TMPDIR any process has), as a host starts it. */
function startEngine(environment: Record<string, string>, log: string) {
  const out = fs.openSync(log, 'a');
  const engine = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'ce'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: dir, ...environment },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  engines.push(engine);
  const exited = new Promise<number | null>((resolve) => engine.once('exit', (code) => resolve(code)));
  return { engine, exited };
}

beforeAll(async () => {
  dir = testDir('engine-tls');
  makeCertificates();
  await startProxy();
  // The appliance: an external cluster over mTLS, given as files, as README's configuration table says.
  config = loadConfig({
    TEMPORAL_ADDRESS: proxyAddress,
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_CA: file('ca.pem'),
    TEMPORAL_TLS_CERT: file('client.pem'),
    TEMPORAL_TLS_KEY: file('client.key'),
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    LAMINA_DATA_DIR: path.join(dir, 'data'),
  });
  // Its own connection goes through the proxy as well (the files, read by runtime/temporal-connection.ts).
  connection = await connectClient({ ...config.temporal, address: proxyAddress });
  client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: { payloadCodecs: [new PayloadEncryptionCodec(keys)] },
  });
});

afterAll(async () => {
  for (const engine of engines)
    if (engine.exitCode === null && engine.signalCode === null) engine.kill('SIGKILL');
  await connection?.close();
  for (const socket of proxied) socket.destroy();
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
});

test("the engine's environment carries the appliance's TLS settings as PEM text, not its file paths", () => {
  const environment = engineEnvironment(config, config.temporal.address!, keys);
  expect(environment).toMatchObject({
    TEMPORAL_ADDRESS: proxyAddress,
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    TEMPORAL_TLS_SERVER_CA_CERT_DATA: pemOf('ca.pem'),
    TEMPORAL_TLS_CLIENT_CERT_DATA: pemOf('client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_DATA: pemOf('client.key'),
  });
  expect(Object.keys(environment)).not.toEqual(
    expect.arrayContaining([expect.stringMatching(/^TEMPORAL_TLS_(CA|CERT|KEY)$/)]),
  );
  expect(Object.values(environment).join('\n')).not.toContain(dir);
});

test('an engine started with only that environment connects through the mTLS frontend, polls and registers', async () => {
  const environment = engineEnvironment(config, config.temporal.address!, keys);
  // The task the engine registers with: a workflow nobody runs (signals reach it all the same).
  const taskId = `engine-tls-${randomUUID()}`;
  const task = await client.workflow.start('engineTlsProbe', {
    taskQueue: `engine-tls-${randomBytes(4).toString('hex')}`,
    workflowId: taskId,
  });
  const engineId = randomUUID();
  const token = randomBytes(32).toString('base64url');
  const log = file('engine.log');
  const { engine, exited } = startEngine(
    { ...environment, LAMINA_CE_ID: engineId, LAMINA_CE_TASK: taskId, LAMINA_CE_TOKEN: token },
    log,
  );
  try {
    // Its worker (the Rust core's connection) polls its own queue through the proxy...
    await eventually(
      async () => {
        const { pollers } = await connection.workflowService.describeTaskQueue({
          namespace: config.temporal.namespace,
          taskQueue: { name: `ce-${engineId}` },
          // An engine runs activities only.
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        });
        return (pollers ?? []).length > 0;
      },
      60_000,
      `a poller on ce-${engineId}`,
    );
    // ...and its client (grpc-js) signals the task with its registration proof, decrypted with the codec keys.
    const signal = await eventually(
      async () =>
        (await task.fetchHistory()).events?.find(
          (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'engineRegistered',
        )?.workflowExecutionSignaledEventAttributes,
      60_000,
      'the engineRegistered signal in the task history',
    );
    const [payload] = await new PayloadEncryptionCodec(keys).decode(signal!.input!.payloads!);
    expect(JSON.parse(Buffer.from(payload.data!).toString())).toEqual({
      engineId,
      proof: registrationProof(token, engineId),
    });
    await eventually(() => /registered with task/.test(fs.readFileSync(log, 'utf8')), 30_000, 'the log line');
    expect(refusals).toEqual([]);
  } finally {
    engine.kill('SIGTERM');
    await task.terminate('test over').catch(() => undefined);
  }
  expect(await exited).toBe(0);
  // The engine printed none of its TLS material (nor anything else of its environment).
  const printed = fs.readFileSync(log, 'utf8');
  expect(printed).not.toContain('PRIVATE KEY');
  expect(printed).not.toContain(environment[PAYLOAD_KEYS_VARIABLE]);
});

test('an engine without the client certificate is refused by the frontend, naming the certificate', async () => {
  const withoutClientPair = engineEnvironment(config, config.temporal.address!, keys);
  delete withoutClientPair.TEMPORAL_TLS_CLIENT_CERT_DATA;
  delete withoutClientPair.TEMPORAL_TLS_CLIENT_KEY_DATA;
  const engineId = randomUUID();
  const log = file('refused.log');
  const { exited } = startEngine(
    {
      ...withoutClientPair,
      LAMINA_CE_ID: engineId,
      LAMINA_CE_TASK: `engine-tls-${randomUUID()}`,
      LAMINA_CE_TOKEN: 'unused',
    },
    log,
  );
  // The engine cannot reach the cluster: its first call fails at the transport and it ends.
  expect(await exited).toBe(1);
  expect(fs.readFileSync(log, 'utf8')).toMatch(/^lamina ce: Failed to call GetSystemInfo: .*transport/m);
  // The frontend says why. (The engine's own words vary: in TLS 1.3 the client's side of the handshake
  // ends before the server checks the client's certificate, so the engine reads either the server's
  // certificate_required alert or the connection closing after it, whichever comes first.)
  expect(await eventually(() => refusals.join('\n'), 10_000, "the frontend's refusal")).toMatch(
    /peer did not return a certificate/,
  );
});

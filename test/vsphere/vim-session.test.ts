import tls from 'node:tls';
import util from 'node:util';
import { listObjects, readProperties } from '../../connectors/vsphere/property-collector';
import { waitForTask } from '../../connectors/vsphere/tasks';
import { CertificateRejected } from '../../connectors/vsphere/tls-trust';
import { VimClient, type VimConnection } from '../../connectors/vsphere/vim-client';
import { moRefOf, VimFault } from '../../connectors/vsphere/vim-fault';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import { vcsimConnector } from './fixtures';

/**
 * The vim25 session against a real vcsim: login, TLS trust, faults, re-login, paging.
 *
 * What vcsim does not simulate, and the stand-in:
 * - Session expiry after vCenter's idle timeout: the test logs the session out behind the client's
 *   back, which makes vcsim answer NotAuthenticated exactly as an expired session does.
 * - The idle timeout itself: vcsim never expires sessions, so keep-alive is shown by the session's call
 *   count on the server (SessionManager.sessionList) growing while the client sits idle.
 * - A CA-signed certificate: vcsim serves a self-signed one, so "verified by default" is shown by the
 *   refusal, and the pinned thumbprints are read from vcsim's certificate by the test.
 */
let sim: Vcsim;
const clients: VimClient[] = [];

function connection(overrides: Partial<VimConnection> = {}): VimConnection {
  return {
    server: sim.url,
    username: sim.username,
    password: sim.password,
    trust: { allowUntrustedCertificate: true },
    ...overrides,
  };
}

async function connect(overrides: Partial<VimConnection> = {}): Promise<VimClient> {
  const client = await VimClient.connect(connection(overrides));
  clients.push(client);
  return client;
}

function vcsimFingerprints(): Promise<{ sha1: string; sha256: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: sim.port, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve({ sha1: cert.fingerprint, sha256: cert.fingerprint256 });
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  // 120 VMs: more than one page (100 objects) of RetrievePropertiesEx.
  sim = await startVcsim({ inventory: { vm: 120 } });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sim?.stop();
});

test('a wrong password fails with InvalidLogin naming server and user, never the password', async () => {
  const secret = 'Wr0ng-Passw0rd!';
  const error = await VimClient.connect(connection({ password: secret })).catch((err: Error) => err);
  expect(error).toBeInstanceOf(VimFault);
  expect((error as VimFault).fault).toBe('InvalidLogin');
  expect((error as Error).message).toContain(`login to 127.0.0.1:${sim.port} as '${sim.username}'`);
  expect(JSON.stringify({ ...(error as object), message: (error as Error).message })).not.toContain(secret);
  expect(String((error as Error).stack)).not.toContain(secret);
});

test('an untrusted certificate is refused by default, with advice naming the two ways to accept it', async () => {
  const error = await VimClient.connect(connection({ trust: {} })).catch((err: Error) => err);
  expect(error).toBeInstanceOf(CertificateRejected);
  expect((error as Error).message).toMatch(/not trusted.*thumbprint.*allowUntrustedCertificate/);
});

test('allowUntrustedCertificate or the right SHA-1/SHA-256 thumbprint is accepted; a wrong one is refused', async () => {
  const { sha1, sha256 } = await vcsimFingerprints();
  await expect(connect({ trust: { allowUntrustedCertificate: true } })).resolves.toBeInstanceOf(VimClient);
  await expect(connect({ trust: { thumbprint: sha1 } })).resolves.toBeInstanceOf(VimClient);
  // Any case, with or without colons.
  await expect(
    connect({ trust: { thumbprint: sha256.replace(/:/g, '').toLowerCase() } }),
  ).resolves.toBeInstanceOf(VimClient);
  const wrong = sha256.replace(/^../, sha256.startsWith('00') ? '11' : '00');
  const error = await VimClient.connect(connection({ trust: { thumbprint: wrong } })).catch(
    (err: Error) => err,
  );
  expect(error).toBeInstanceOf(CertificateRejected);
  expect((error as Error).message).toContain(`not the pinned ${wrong}`);
  // A pin wins over allowUntrustedCertificate: a wrong pin is refused even then.
  await expect(
    VimClient.connect(connection({ trust: { thumbprint: wrong, allowUntrustedCertificate: true } })),
  ).rejects.toBeInstanceOf(CertificateRejected);
});

test('a fault names the call, the fault type and the object', async () => {
  const client = await connect();
  const error = await readProperties(client, { type: 'VirtualMachine', value: 'vm-does-not-exist' }, [
    'name',
  ]).catch((err: Error) => err);
  expect(error).toBeInstanceOf(VimFault);
  expect((error as VimFault).fault).toBe('ManagedObjectNotFound');
  expect((error as Error).message).toMatch(
    /^RetrievePropertiesEx on PropertyCollector \S+ failed: ManagedObjectNotFound \(VirtualMachine vm-does-not-exist\): .+/,
  );
});

test('a failed task becomes a VimFault naming the operation', async () => {
  const client = await connect();
  const [vm] = await listObjects(client, 'VirtualMachine', ['runtime.powerState']);
  expect(vm.props.get('runtime.powerState')?.text).toBe('poweredOn'); // vcsim starts its VMs
  const response = await client.invoke('PowerOnVM_Task', vm.ref);
  const error = await waitForTask(client, moRefOf(response.child('returnval')!), 'power on again').catch(
    (err: Error) => err,
  );
  expect(error).toBeInstanceOf(VimFault);
  expect((error as VimFault).fault).toBe('InvalidPowerState');
  expect((error as Error).message).toMatch(/^power on again failed: InvalidPowerState/);
});

test('an expired session is replaced by a new login and the call succeeds', async () => {
  const client = await connect();
  const before = client.sessionCookie;
  await client.invoke('Logout', client.serviceContent.sessionManager); // what an idle timeout does
  const datacenters = await listObjects(client, 'Datacenter', ['name']);
  expect(datacenters.map((d) => d.props.get('name')?.text)).toEqual(['DC0']);
  expect(client.sessionCookie).not.toBe(before);
});

test('property retrieval follows continuation tokens past the first page', async () => {
  const client = await connect();
  const vms = await listObjects(client, 'VirtualMachine', ['name']);
  expect(vms).toHaveLength(120);
  expect(new Set(vms.map((v) => v.ref.value)).size).toBe(120);
});

test('an idle session is kept alive by periodic calls', async () => {
  const idle = await connect({ keepAliveMs: 100 });
  const control = await connect(); // default: every 10 minutes
  await new Promise((resolve) => setTimeout(resolve, 700));
  const sessions = (await readProperties(control, control.serviceContent.sessionManager, ['sessionList']))
    .get('sessionList')!
    .children.map((s) => ({ key: s.textOf('key'), calls: Number(s.textOf('callCount')) }));
  const callsOf = (client: VimClient) =>
    sessions.find((s) => `vmware_soap_session=${s.key}` === client.sessionCookie)!.calls;
  expect(callsOf(idle)).toBeGreaterThanOrEqual(5);
  expect(callsOf(control)).toBeLessThanOrEqual(3);
});

test('neither the client nor the connector shows the password when inspected or serialised', async () => {
  const client = await connect();
  const connector = vcsimConnector(sim);
  expect(util.inspect(client, { depth: 10 })).not.toContain(sim.password);
  expect(util.inspect(connector, { depth: 10 })).not.toContain(sim.password);
  expect(JSON.stringify(connector)).not.toContain(sim.password);
});

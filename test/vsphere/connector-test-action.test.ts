import { createConnector } from '../../connectors';
import type { ConnectorCheck } from '../../connectors/connector';
import { vsphereConnectorSettings } from '../../connectors/vsphere/settings';
import { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import { vcsimConnector, vcsimSettings } from './fixtures';

/**
 * The connector's Test action against a real vcsim: every setting checked, a wrong one named with the
 * valid choices. vcsim's inventory (DC0, cluster DC0_C0 with host DC0_C0_H0, LocalDS_0, "VM Network",
 * DC0_DVPG0, folder F0) is the real object model, so lookups are not stood in for. vcsim reports a
 * 10 TB datastore, so "cache does not fit" is shown with a cache size beyond that.
 */
let sim: Vcsim;

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
});

afterAll(async () => {
  await sim?.stop();
});

function runTest(
  overrides: Parameters<typeof vcsimSettings>[1] = {},
  options: Parameters<typeof vcsimConnector>[2] = { packagingCacheGb: 1 },
): Promise<ConnectorCheck[]> {
  return vcsimConnector(sim, overrides, options).test();
}

function failures(checks: ConnectorCheck[]): ConnectorCheck[] {
  return checks.filter((c) => !c.ok);
}

test('correct settings pass every check, the template VM reporting the hardware new VMs copy', async () => {
  const checks = await runTest({ templateVm: 'DC0_C0_RP0_VM0' });
  expect(failures(checks)).toEqual([]);
  expect(checks.map((c) => c.field)).toEqual([
    'vcenter',
    'datacenter',
    'host',
    'datastore',
    'packagingCacheGb',
    'network',
    'vmFolder',
    'templateVm',
  ]);
  expect(checks.find((c) => c.field === 'templateVm')?.message).toMatch(/CPUs, \d+ MiB, (bios|efi)/);
});

test('a host inside the cluster, a distributed port group and the root VM folder are accepted', async () => {
  const checks = await runTest({ host: 'DC0_C0_H0', network: 'DC0_DVPG0', vmFolder: undefined });
  expect(failures(checks)).toEqual([]);
});

test('a wrong datacenter is named with the datacenters that exist', async () => {
  expect(failures(await runTest({ datacenter: 'DC9' }))).toEqual([
    { field: 'datacenter', ok: false, message: "datacenter 'DC9' not found; datacenters: DC0" },
  ]);
});

test('wrong host, datastore, network, folder and template each name their field and the valid choices', async () => {
  const hostChecks = failures(await runTest({ host: 'esx-99' }));
  expect(hostChecks).toEqual([
    {
      field: 'host',
      ok: false,
      message: "host or cluster 'esx-99' not found in DC0; clusters: DC0_C0; hosts: DC0_C0_H0",
    },
  ]);
  const checks = failures(
    await runTest({ datastore: 'SAN-1', network: 'Prod', vmFolder: 'Lamina/Packaging', templateVm: 'gold' }),
  );
  expect(checks).toEqual([
    { field: 'datastore', ok: false, message: "datastore 'SAN-1' not found; datastores in DC0: LocalDS_0" },
    {
      field: 'network',
      ok: false,
      message: "network 'Prod' not found; networks on 'DC0_C0': DC0_DVPG0, DVS0-DVUplinks-13, VM Network",
    },
    { field: 'vmFolder', ok: false, message: "VM folder 'Lamina/Packaging' not found in DC0; folders: F0" },
    { field: 'templateVm', ok: false, message: "template VM 'gold' not found in DC0; VMs: DC0_C0_RP0_VM0" },
  ]);
});

test('a packaging cache larger than the free space is reported against its field', async () => {
  const [check] = failures(await runTest({}, { packagingCacheGb: 50_000 }));
  expect(check.field).toBe('packagingCacheGb');
  expect(check.message).toMatch(/does not fit: 'LocalDS_0' has [\d.]+ GB free/);
});

test('a wrong password is reported against the password field without revealing it', async () => {
  const checks = await runTest({}, { password: 'not-the-password' });
  expect(checks).toEqual([
    {
      field: 'password',
      ok: false,
      message: `vCenter refused user '${sim.username}': wrong user or password (Login failure)`,
    },
  ]);
  expect(JSON.stringify(checks)).not.toContain('not-the-password');
});

test('TLS and reachability problems name the setting to change', async () => {
  const [tlsCheck] = await runTest({ allowUntrustedCertificate: false });
  expect(tlsCheck).toMatchObject({ field: 'allowUntrustedCertificate', ok: false });
  const [pinCheck] = await runTest({ certificateThumbprint: 'AA'.repeat(20) });
  expect(pinCheck).toMatchObject({ field: 'certificateThumbprint', ok: false });
  const [serverCheck] = await runTest({ vcenter: '127.0.0.1:1' });
  expect(serverCheck).toMatchObject({ field: 'vcenter', ok: false });
  expect(serverCheck.message).toMatch(/cannot reach vCenter at 127\.0\.0\.1:1/);
});

test('settings are validated by schema and the type is registered', () => {
  const parsed = vsphereConnectorSettings.safeParse({ ...vcsimSettings(sim), certificateThumbprint: 'xyz' });
  expect(parsed.success).toBe(false);
  const record = { id: 'c1', type: 'vsphere', name: 'vCenter', settings: vcsimSettings(sim) };
  expect(createConnector(record, { password: sim.password })).toBeInstanceOf(VsphereConnector);
  expect(() => createConnector(record, {})).toThrow(/password/);
});

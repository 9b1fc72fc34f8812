import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { classifyFailure } from '../../activities/failure-table';
import { ConfigError, loadConfig } from '../../config/env';
import { LocalCeHost } from '../../connectors/local/local-ce-host';
import { LocalVmHost } from '../../connectors/local/local-vm-host';
import { freePort, isPortOpen } from '../../lib/processes';
import { startSlapd, type Slapd } from '../../runtime/slapd';
import type { PublishImageResult } from '../../workflows/publish-image';
import { sha256 } from '../compositor/tools';
import { harnessValue, testDir } from '../harness';
import {
  createEngineNetns,
  listLinks,
  listNamespaces,
  netIdOf,
  netnsRefusal,
  processesIn,
  removeStaleNetns,
  type EngineNetns,
} from '../harness/netns';
import {
  builtLayer,
  completed,
  eventually,
  filesUnder,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  template,
  type Appliance,
} from '../workflows/fixtures';
import {
  engineFiles,
  engineIds,
  enginePid,
  engineRecords,
  localCompose,
  offloadEnvironment,
  storagePool,
  targetsShown,
} from './helpers';

/**
 * Offload Compositing on the local connector with LAMINA_CE_NETNS (issue 17 §2): the engine process runs
 * in a network namespace whose only way out is a veth link to the host, on which nftables inside the
 * namespace lets through TCP to the host's end on two ports only: the appliance's iSCSI portal (tgtd
 * listening at that address) and Temporal's frontend. The harness's Temporal dev server listens on
 * loopback only, as the embedded one does, so engines reach it through the appliance worker's gateway
 * at the host's end of the link (runtime/engine-temporal-gateway.ts). The engine reads nothing else of
 * the appliance.
 */

jest.setTimeout(600_000);

describe('LAMINA_CE_NETNS is checked at start and when an engine is made', () => {
  test('a namespace that does not exist and an address not on this host are both named', () => {
    let problems: string[] = [];
    try {
      loadConfig({ LAMINA_CE_NETNS: 'lamina-no-such-namespace', LAMINA_CE_ADDRESS: '198.51.100.7' });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^LAMINA_CE_NETNS: network namespace 'lamina-no-such-namespace' does not exist/),
      expect.stringMatching(
        /^LAMINA_CE_ADDRESS: .* at 198\.51\.100\.7, which is none of this host's addresses outside loopback/,
      ),
    ]);
  });

  test('an engine launched into a namespace that is gone is refused, naming it, and leaves nothing', async () => {
    const pool = testDir('netns-pool');
    const engines = new LocalCeHost(new LocalVmHost(pool));
    const launch = { id: randomUUID(), name: 'lamina-ce-gone', environment: {} };

    const refusal = await engines
      .createEngine({ ...launch, networkNamespace: 'lamina-gone' })
      .catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toContain(
      "network namespace 'lamina-gone' (LAMINA_CE_NETNS) does not exist",
    );
    // The task fails at once naming it: retrying cannot bring a namespace back.
    expect(classifyFailure(refusal)).toMatchObject({ nonRetryable: true, type: 'EngineLaunchRefused' });
    expect(await engines.listEngines()).toEqual([]);
    expect(fs.readdirSync(pool)).toEqual([]);
  });

  test('a name `ip netns` would not take is refused', () => {
    expect(() => loadConfig({ LAMINA_CE_NETNS: '../etc' })).toThrow(
      /LAMINA_CE_NETNS: must be a network namespace name/,
    );
  });
});

const refusal = netnsRefusal();
// Printed once, so a skipped run says why.
if (refusal) console.warn(`netns.test.ts: engines in a network namespace not tested: ${refusal}`);

(refusal ? describe.skip : describe)('an engine in a network namespace', () => {
  let ns: EngineNetns;
  let app: Appliance;
  let slapd: Slapd;
  let os: { layerId: string; versionId: string };
  let appVersion: string;
  let localImage: string;
  const temporalPort = Number(harnessValue('temporalAddress').split(':').pop());

  beforeAll(async () => {
    removeStaleNetns();
    const env = await offloadEnvironment();
    ns = createEngineNetns([Number(env.LAMINA_ISCSI_PORT), temporalPort]);
    app = await startAppliance({
      env: { ...env, LAMINA_ISCSI_HOST: ns.hostIp, LAMINA_CE_ADDRESS: ns.hostIp, LAMINA_CE_NETNS: ns.name },
    });
    slapd = await startSlapd({
      dir: testDir('netns-ldap'),
      suffix: 'dc=example,dc=com',
      rootPassword: 'ldap-root-1',
    });
    os = await importedOs(app.api, await goldImage());
    appVersion = (await builtLayer(app.api, 'app', 'Tools', os.layerId, { 'Tools\\tool.txt': 'namespaced' }))
      .versionId;
    const turnedOn = await app.api.patch(`/api/connectors/${LOCAL_CONNECTOR}`, { offloadCompositing: true });
    expect(turnedOn.status).toBe(200);
    localImage = path.join(testDir('offload-netns'), 'local.vhdx');
    await localCompose(app, { os: os.versionId, apps: [appVersion] }, localImage, 2);
  });

  afterAll(async () => {
    await app?.stop();
    await slapd?.stop();
    ns?.remove();
  });

  /** The network namespace of the first engine seen running `lamina ce` (after `ip netns exec` became it). */
  async function engineNetwork(): Promise<string> {
    const node = fs.realpathSync(process.execPath);
    return eventually(async () => {
      for (const id of engineIds(app)) {
        try {
          const pid = enginePid(app, id);
          if (fs.readlinkSync(`/proc/${pid}/exe`) === node) return netIdOf(pid);
        } catch {
          // its pid file is being written, or it is gone
        }
      }
      return undefined;
    }, 300_000);
  }

  test('an offloaded publish composes in an engine inside the namespace: the image a local compose writes', async () => {
    const started = await app.api.post(
      `/api/templates/${await template(app.api, { name: 'Namespaced', osVersionId: os.versionId, appVersionIds: [appVersion], connectorId: LOCAL_CONNECTOR })}/publish`,
    );
    const [engineNet, result] = await Promise.all([
      engineNetwork(),
      completed<PublishImageResult>(app.api, started),
    ]);

    expect(engineNet).toBe(ns.netId);
    expect(ns.netId).not.toBe(netIdOf('self'));
    expect(result.sha256).toBe(sha256(localImage));
    const snapshotDisk = path.join(
      storagePool(app),
      'vms',
      result.vm!.id,
      'snapshots',
      result.name,
      'boot.vhdx',
    );
    expect(execFileSync('qemu-img', ['compare', '-q', localImage, snapshotDisk]).toString()).toBe('');
    await eventually(async () => engineFiles(app).length === 0);
    expect(await engineRecords(app)).toBe(0);
    expect(targetsShown(app)).not.toMatch(/Target \d+:/);
    expect(filesUnder(path.join(storagePool(app), 'disks'))).toEqual([]);
    expect(processesIn(ns.netId)).toEqual([]);
  });

  test('from inside the namespace, Temporal is reachable and Postgres, LDAP, the API and other ports are not', async () => {
    const pg = Number(new URL(harnessValue('databaseUrl')).port);
    const ldap = Number(new URL(slapd.url).port);
    const api = Number(new URL(app.stack.apiUrl!).port);
    // Any other port of the host, open to every address: the namespace's firewall is what keeps it out.
    const other = net.createServer((socket) => socket.destroy());
    const otherPort = await freePort();
    await new Promise<void>((resolve) => other.listen(otherPort, '0.0.0.0', resolve));
    try {
      const fromHost = await Promise.all([
        isPortOpen(pg),
        isPortOpen(ldap),
        isPortOpen(api),
        isPortOpen(otherPort, ns.hostIp),
      ]);
      expect(fromHost).toEqual([true, true, true, true]);

      expect(await ns.canReach(ns.hostIp, temporalPort)).toBe(true);
      const closed: [string, number][] = [pg, ldap, api, otherPort].flatMap((port) => [
        [ns.hostIp, port] as [string, number],
        ['127.0.0.1', port] as [string, number],
      ]);
      const reached = await Promise.all(closed.map(([host, port]) => ns.canReach(host, port)));
      expect(closed.filter((_, i) => reached[i])).toEqual([]);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  test('removing the namespace leaves no namespace, link or process in it', () => {
    expect(processesIn(ns.netId)).toEqual([]);
    ns.remove();
    expect(listNamespaces()).not.toContain(ns.name);
    expect(listLinks()).not.toContain(ns.hostLink);
  });
});

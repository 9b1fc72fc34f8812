import fs from 'node:fs';
import path from 'node:path';
import { compose } from '../../compositor/compose';
import type { IscsiLun } from '../../compositor/iscsi-lun';
import { freePort } from '../../lib/processes';
import { deriveChapCredentials, type LayerTarget } from '../../iscsi';
import { makeOsAndAppLayer } from '../compositor/fixtures';
import { filesIn, run, sha256 } from '../compositor/tools';
import { INITIATOR, testTargets } from '../iscsi/helpers';
import { testDir } from '../harness';

/**
 * The compositor reading its layers over iSCSI (ARCHITECTURE.md §5), as a Compositing Engine does:
 * the appliance's target (iscsi/, a real tgtd) serves the layer disks, the NTFS core logs in with
 * libiscsi and reads them. The image must be the one a compose from the files makes, byte for byte.
 */

jest.setTimeout(300_000);

const CHAP_KEY = Buffer.alloc(32, 7);
let dir: string;
let layers: { os: string; app: string };
let targets: Awaited<ReturnType<typeof testTargets>>['targets'];
let target: LayerTarget;

beforeAll(async () => {
  dir = testDir('offload-iscsi-layers');
  const source = path.join(dir, 'app-source');
  fs.mkdirSync(path.join(source, 'Program Files', 'App'), { recursive: true });
  fs.writeFileSync(path.join(source, 'Program Files', 'App', 'app.txt'), 'served over iSCSI\n');
  layers = await makeOsAndAppLayer(dir, source);
  ({ targets } = await testTargets(dir));
  target = await targets.create({
    name: 'compose-test',
    layers: [
      { path: layers.os, sha256: sha256(layers.os), label: 'Win' },
      { path: layers.app, sha256: sha256(layers.app), label: 'App' },
    ],
    initiatorName: INITIATOR,
    chap: deriveChapCredentials(CHAP_KEY, 'compose-test', 'initiator'),
  });
});

afterAll(async () => {
  await targets?.close();
});

function lun(number: number, overrides: Partial<IscsiLun> = {}): IscsiLun {
  return {
    portal: `127.0.0.1:${target.portal.port}`,
    iqn: target.iqn,
    lun: number,
    initiator: INITIATOR,
    chap: deriveChapCredentials(CHAP_KEY, 'compose-test', 'initiator'),
    ...overrides,
  };
}

const IMAGE = { size: 2 ** 30, firmware: 'bios' as const, format: 'vhdx' as const };

test('a compose from LUNs writes the image a compose from the layer files writes', async () => {
  const local = path.join(dir, 'local.vhdx');
  const remote = path.join(dir, 'remote.vhdx');
  await compose({ ...IMAGE, os: layers.os, apps: [layers.app], out: local });
  const report = await compose({ ...IMAGE, os: lun(1), apps: [lun(2)], out: remote });

  expect(run('qemu-img', ['compare', '-q', local, remote])).toBe('');
  expect(sha256(remote)).toBe(sha256(local));
  // The report names layers by what they are, never by where they were read from.
  expect(report.layers.map((l) => l.name)).toEqual(['Win', 'App']);
});

test('a wrong CHAP secret is refused at login, naming the CHAP user, and leaves no file', async () => {
  const out = path.join(dir, 'wrong-chap', 'image.vhdx');
  fs.mkdirSync(path.dirname(out));
  const wrong = { user: lun(1).chap!.user, secret: 'not-the-secret-1234' };
  await expect(compose({ ...IMAGE, os: lun(1, { chap: wrong }), apps: [], out })).rejects.toThrow(
    new RegExp(`CHAP user '${wrong.user}' not accepted`),
  );
  expect(filesIn(path.dirname(out))).toEqual([]);
});

test('an initiator the target does not admit is told which name it logged in as', async () => {
  const out = path.join(dir, 'other-initiator.vhdx');
  await expect(
    compose({ ...IMAGE, os: lun(1, { initiator: 'iqn.2024-01.org.example:stranger' }), apps: [], out }),
  ).rejects.toThrow(/login as iqn\.2024-01\.org\.example:stranger failed \(.*Target not found/);
});

test('a portal nobody listens on fails at once, naming the portal', async () => {
  const port = await freePort();
  const out = path.join(dir, 'no-portal.vhdx');
  await expect(
    compose({ ...IMAGE, os: lun(1, { portal: `127.0.0.1:${port}` }), apps: [], out }),
  ).rejects.toThrow(`cannot reach the iSCSI portal 127.0.0.1:${port}`);
});

test('a LUN the target does not have is named', async () => {
  await expect(
    compose({ ...IMAGE, os: lun(9), apps: [], out: path.join(dir, 'no-lun.vhdx') }),
  ).rejects.toThrow(/the target has no LUN 9/);
});

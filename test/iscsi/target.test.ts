import fs from 'node:fs';
import { testDir } from '../harness';
import { MIB } from '../disk/helpers';
import { openDisk } from '../../disk';
import { deriveChapCredentials, iqnFor, type LayerTarget, type LayerTargets } from '../../iscsi';
import {
  cunitSummary,
  INITIATOR,
  libiscsi,
  makeLayer,
  qemuCompareLun,
  qemuMapLun,
  sha256,
  testTargets,
  tgtadmShow,
  type TestLayer,
} from './helpers';

/**
 * The appliance's iSCSI target against outside initiators: libiscsi's conformance suite (iscsi-test-cu),
 * its inquiry tool and qemu's iscsi driver, all talking to a real tgtd over TCP. Each layer is a dynamic
 * VHDX made by qemu-img; what a LUN serves must be that VHDX's virtual disk, byte for byte.
 */
describe('layer targets served by tgtd', () => {
  const key = Buffer.alloc(32, 7);
  let dir: string;
  let port: number;
  let controlPort: number;
  let targets: LayerTargets;
  let os: TestLayer;
  let app: TestLayer;
  let target: LayerTarget;
  const chap = deriveChapCredentials(key, 'offload-conformance', 'initiator');

  beforeAll(async () => {
    dir = testDir('iscsi-target');
    // An OS-like layer with data at the start, in the middle and in the last MiB, and an app layer.
    os = makeLayer(dir, 'os', 96 * MIB, [
      { offset: 0, length: MIB },
      { offset: 40 * MIB, length: 3 * MIB },
      { offset: 95 * MIB, length: MIB },
    ]);
    app = makeLayer(dir, 'app', 48 * MIB, [
      { offset: 0, length: 64 * 1024, fill: 'text' },
      { offset: 20 * MIB, length: 2 * MIB },
    ]);
    ({ port, controlPort, targets } = await testTargets(dir));
    target = await targets.create({
      name: 'offload-conformance',
      layers: [os, app],
      initiatorName: INITIATOR,
      chap,
    });
  });

  afterAll(async () => {
    await targets?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('describes one target with a LUN per layer, numbered from 1 in the given order', () => {
    expect(target).toEqual({
      name: 'offload-conformance',
      iqn: iqnFor('offload-conformance'),
      portal: { host: '127.0.0.1', port },
      luns: [
        { lun: 1, label: 'os', sha256: os.sha256, sizeBytes: 96 * MIB },
        { lun: 2, label: 'app', sha256: app.sha256, sizeBytes: 48 * MIB },
      ],
      chapUser: chap.user,
      targetChapUser: undefined,
      initiatorName: INITIATOR,
    });
    expect(JSON.stringify(target)).not.toContain(chap.secret);
  });

  it.each([
    'SCSI.TestUnitReady',
    'SCSI.Inquiry',
    'SCSI.ReadCapacity10',
    'SCSI.ReadCapacity16',
    'SCSI.Read10',
    'SCSI.Read16',
    'SCSI.ModeSense6',
    'SCSI.ReportSupportedOpcodes',
    'iSCSI.iSCSIcmdsn',
    'iSCSI.iSCSIResiduals',
  ])('iscsi-test-cu %s: every test passes', (family) => {
    const run = libiscsi(
      'iscsi-test-cu',
      ['--silent', `--test=${family}`],
      { port, iqn: target.iqn, lun: 1 },
      chap,
    );
    const summary = cunitSummary(run.output);
    expect({ family, ...summary }).toEqual({
      family,
      total: summary.total,
      ran: summary.total,
      passed: summary.total,
      failed: 0,
    });
    expect(summary.total).toBeGreaterThan(0);
  });

  it('refuses writes with DATA PROTECT / WRITE PROTECTED, and the layer keeps its bytes', () => {
    const before = sha256(os.path);
    const run = libiscsi(
      'iscsi-test-cu',
      ['--dataloss', '--test=SCSI.Write10.Simple'],
      { port, iqn: target.iqn, lun: 1 },
      chap,
    );
    expect(cunitSummary(run.output).failed).toBe(1);
    expect(run.output).toMatch(
      /WRITE10 command failed with status 2 \/ sense key DATA PROTECTION\(0x07\) \/ ASCQ WRITE_PROTECTED\(0x2700\)/,
    );
    expect(run.output).not.toMatch(/WRITE10 .*succeeded/i);
    const unmap = libiscsi(
      'iscsi-test-cu',
      ['--dataloss', '--test=SCSI.Unmap.Simple'],
      { port, iqn: target.iqn, lun: 1 },
      chap,
    );
    expect(unmap.output).toMatch(
      /UNMAP command failed with status 2 \/ sense key DATA PROTECTION\(0x07\) \/ ASCQ WRITE_PROTECTED\(0x2700\)/,
    );
    expect(sha256(os.path)).toBe(before);
  });

  it("reports the layer's holes (GET LBA STATUS), so a reader skips what the layer never wrote", async () => {
    const map = qemuMapLun(dir, { port, iqn: target.iqn, lun: 2 }, chap);
    const data = map.filter((extent) => extent.data).map(({ start, length }) => ({ offset: start, length }));
    const covers = (offset: number, length: number) =>
      data.some((d) => d.offset <= offset && offset + length <= d.offset + d.length);
    // The app layer wrote 64 KiB at 0 and 2 MiB at 20 MiB: both are reported as data…
    expect(covers(0, 64 * 1024)).toBe(true);
    expect(covers(20 * MIB, 2 * MIB)).toBe(true);
    // …inside the layer's allocated VHDX blocks, and less than those blocks (zeros in them are holes too).
    const layer = await openDisk(app.path);
    const allocated = layer.extents();
    await layer.close();
    for (const d of data)
      expect(allocated.some((a) => a.offset <= d.offset && d.offset + d.length <= a.offset + a.length)).toBe(
        true,
      );
    const total = (ranges: { length: number }[]) => ranges.reduce((sum, r) => sum + r.length, 0);
    expect(total(data)).toBeLessThan(total(allocated));
  });

  it('serves each layer as its virtual disk (qemu-img compare against the VHDX)', () => {
    for (const [index, layer] of [os, app].entries()) {
      const compared = qemuCompareLun(dir, { port, iqn: target.iqn, lun: index + 1 }, chap, layer.path);
      expect(compared).toEqual({ status: 0, output: 'Images are identical.\n' });
    }
  });

  it('names the layer in INQUIRY: vendor Lamina, product Layer, serial = the layer hash', () => {
    const inquiry = libiscsi('iscsi-inq', ['-e', '1', '-c', '128'], { port, iqn: target.iqn, lun: 2 }, chap);
    expect(inquiry.status).toBe(0);
    // tgtd pads the serial number to its 36 bytes with leading spaces.
    expect(inquiry.output).toMatch(new RegExp(`Unit Serial Number:\\[ *${app.sha256.slice(0, 32)}\\]`));
  });

  it('refuses a wrong CHAP secret, no CHAP at all, and an initiator the ACL does not name', () => {
    const lun = { port, iqn: target.iqn, lun: 1 };
    const wrong = libiscsi('iscsi-inq', [], lun, { user: chap.user, secret: 'not-the-secret-1' });
    expect(wrong.status).not.toBe(0);
    expect(wrong.output).toMatch(/Authentication failure/);
    const none = libiscsi('iscsi-inq', [], lun, { user: '', secret: '' });
    expect(none.status).not.toBe(0);
    expect(none.output).toMatch(/Authentication failure/);
    const stranger = libiscsi('iscsi-inq', [], lun, chap, { initiator: 'iqn.2024-01.org.example:stranger' });
    expect(stranger.status).not.toBe(0);
    expect(stranger.output).toMatch(/Target not found/);
    const right = libiscsi('iscsi-inq', [], lun, chap);
    expect(right.status).toBe(0);
    expect(right.output).toContain('Vendor:Lamina');
  });

  it('creating the same target again returns it as it is; removing it twice removes it once', async () => {
    const again = await targets.create({
      name: 'offload-conformance',
      layers: [os, app],
      initiatorName: INITIATOR,
      chap,
    });
    expect(again).toEqual(target);
    expect(tgtadmShow(controlPort).match(/^Target \d+:/gm)).toHaveLength(1);

    const other = await targets.create({
      name: 'second-task',
      layers: [app],
      initiatorName: INITIATOR,
      chap: deriveChapCredentials(key, 'second-task', 'initiator'),
    });
    expect(tgtadmShow(controlPort).match(/^Target \d+:/gm)).toHaveLength(2);
    expect(await targets.remove(other.name)).toBe(true);
    expect(await targets.remove(other.name)).toBe(false);
    expect(await targets.remove('never-created')).toBe(false);
    expect(tgtadmShow(controlPort)).not.toContain(other.iqn);
    expect(tgtadmShow(controlPort)).toContain(target.iqn);
  });

  it('mutual CHAP: an initiator that checks the target with its credential logs in, a wrong one is refused', async () => {
    const name = 'mutual-task';
    const initiator = deriveChapCredentials(key, name, 'initiator');
    const targetChap = deriveChapCredentials(key, name, 'target');
    const mutual = await targets.create({
      name,
      layers: [app],
      initiatorName: INITIATOR,
      chap: initiator,
      targetChap,
    });
    const lun = { port, iqn: mutual.iqn, lun: 1 };
    expect(libiscsi('iscsi-inq', [], lun, initiator, { targetChap }).status).toBe(0);
    const impostor = libiscsi('iscsi-inq', [], lun, initiator, {
      targetChap: { user: targetChap.user, secret: 'not-the-target-1' },
    });
    expect(impostor.status).not.toBe(0);
    await targets.remove(name);
  });

  it('removing the last target leaves no target and ends tgtd', async () => {
    expect(await targets.remove(target.name)).toBe(true);
    expect(tgtadmShow(controlPort)).toBe('');
  });
});

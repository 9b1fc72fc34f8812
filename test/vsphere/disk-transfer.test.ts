import fs from 'node:fs';
import path from 'node:path';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import {
  CuttingProxy,
  makeTestVmdk,
  qemuCompare,
  scratchDir,
  SessionCheckingProxy,
  vcsimConnector,
} from './fixtures';

/**
 * Disk upload and download against a real vcsim, bytes judged by `qemu-img compare` on the folder that
 * backs vcsim's datastore.
 *
 * What vcsim does not simulate, and the stand-in:
 * - Network failures: a TCP proxy (CuttingProxy) between connector and vcsim cuts a connection after a
 *   number of bytes, or refuses every connection ("network down").
 * - Session checks on the file service: vcsim's /folder accepts any request; an HTTPS proxy
 *   (SessionCheckingProxy) checks the cookie as vCenter does and answers 401 once sessions expire.
 * - vcsim's file service writes what it receives and keeps a partial file when a PUT breaks, like
 *   ESXi; it never converts or validates VMDKs, so the test validates them with qemu-img.
 */
const MiB = 1024 * 1024;
const DISK_MIB = 4;
const EXTENT = 1 * MiB;

let sim: Vcsim;
let work: string;
let source: string;
const connectors: VsphereConnector[] = [];

function connector(port = sim.port): VsphereConnector {
  const c = vcsimConnector(sim, { vcenter: `127.0.0.1:${port}` });
  connectors.push(c);
  return c;
}

function datastoreFile(relative: string): string {
  return path.join(sim.datastoreDir('LocalDS_0'), relative);
}

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  work = scratchDir('vsphere-transfer');
  source = await makeTestVmdk(work, DISK_MIB);
});

afterAll(async () => {
  await Promise.all(connectors.map((c) => c.close()));
  await sim?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('uploads a VMDK as extent files plus descriptor and downloads it back byte for byte', async () => {
  const c = connector();
  const progress: number[] = [];
  const uploaded = await c.uploadDisk(source, 'lamina/roundtrip.vmdk', {
    extentBytes: EXTENT,
    onProgress: (p) => progress.push(p.done),
  });
  expect(uploaded.descriptor).toBe('[LocalDS_0] lamina/roundtrip.vmdk');
  expect(uploaded.capacityBytes).toBe(DISK_MIB * MiB);
  expect(fs.readdirSync(datastoreFile('lamina')).sort()).toEqual([
    'roundtrip-f002.vmdk',
    'roundtrip-f003.vmdk',
    'roundtrip-f004.vmdk',
    'roundtrip-flat.vmdk',
    'roundtrip.vmdk',
  ]);
  await qemuCompare(source, datastoreFile('lamina/roundtrip.vmdk'));
  expect(progress.at(-1)).toBe(DISK_MIB * MiB);
  // Throttled (a heartbeat per 64 KiB chunk would be 64 here), yet monotonic.
  expect(progress.length).toBeLessThan(20);
  expect([...progress].sort((a, b) => a - b)).toEqual(progress);

  const local = path.join(work, 'download', 'roundtrip.vmdk');
  const downloaded = await c.downloadDisk('[LocalDS_0] lamina/roundtrip.vmdk', local);
  expect(downloaded.bytes).toBe(DISK_MIB * MiB);
  await qemuCompare(source, local);
});

test('a disk that fits one extent is ESXi-native: vmfs descriptor plus -flat.vmdk', async () => {
  await connector().uploadDisk(source, 'lamina/native.vmdk');
  const descriptor = fs.readFileSync(datastoreFile('lamina/native.vmdk'), 'utf8');
  expect(descriptor).toContain('createType="vmfs"');
  expect(descriptor).toContain(`RW ${(DISK_MIB * MiB) / 512} VMFS "native-flat.vmdk"\n`);
  await qemuCompare(source, datastoreFile('lamina/native.vmdk'));
  const local = path.join(work, 'native-download', 'native.vmdk');
  const downloaded = await connector().downloadDisk('lamina/native.vmdk', local);
  expect(downloaded.files.map((f) => path.basename(f))).toEqual(['native.vmdk', 'native-flat.vmdk']);
  await qemuCompare(source, local);
});

test('a single-file VMDK (no descriptor) downloads as one file', async () => {
  // Stand-in for a disk another tool left on the datastore: the streamOptimized source, copied in place.
  fs.mkdirSync(datastoreFile('other'), { recursive: true });
  fs.copyFileSync(source, datastoreFile('other/stream.vmdk'));
  const local = path.join(work, 'single-download', 'stream.vmdk');
  const downloaded = await connector().downloadDisk('[LocalDS_0] other/stream.vmdk', local);
  expect(downloaded.files).toEqual([local]);
  expect(fs.readFileSync(local).equals(fs.readFileSync(source))).toBe(true);
});

test('a connection dropped mid-upload re-sends only the extent it was carrying', async () => {
  const proxy = await CuttingProxy.start(sim.port);
  try {
    const retries: Error[] = [];
    proxy.cutAfter('up', 2.5 * MiB);
    await connector(proxy.port).uploadDisk(source, 'lamina/dropped.vmdk', {
      extentBytes: EXTENT,
      onRetry: (err) => retries.push(err),
    });
    expect(proxy.cuts).toBe(1);
    expect(retries).toHaveLength(1);
    await qemuCompare(source, datastoreFile('lamina/dropped.vmdk'));
    // A restart from zero would send at least 2.5 + 4 MiB; resuming sends 4 MiB plus the cut extent's part.
    expect(proxy.upstreamBytes).toBeLessThan((DISK_MIB + 1.1) * MiB);
  } finally {
    await proxy.stop();
  }
});

test('a retried upload after the network went down skips the extents already on the datastore', async () => {
  const failing = await CuttingProxy.start(sim.port);
  let firstError: unknown;
  try {
    await connector(failing.port).uploadDisk(source, 'lamina/resumed.vmdk', {
      extentBytes: EXTENT,
      attempts: 2,
      onProgress: (p) => {
        if (p.done >= 2.5 * MiB) failing.cutAfter('up', 0, Infinity); // network down from here on
      },
    });
  } catch (err) {
    firstError = err;
  } finally {
    await failing.stop();
  }
  expect(String(firstError)).toMatch(/ECONNRESET|socket hang up|cannot reach|EPIPE/);
  expect(fs.existsSync(datastoreFile('lamina/resumed.vmdk'))).toBe(false); // descriptor = complete marker

  const healthy = await CuttingProxy.start(sim.port);
  try {
    await connector(healthy.port).uploadDisk(source, 'lamina/resumed.vmdk', { extentBytes: EXTENT });
    await qemuCompare(source, datastoreFile('lamina/resumed.vmdk'));
    expect(healthy.upstreamBytes).toBeLessThan(2.5 * MiB); // extents 1 and 2 were not sent again
  } finally {
    await healthy.stop();
  }
});

test('cancelling mid-upload leaves nothing on the datastore', async () => {
  const abort = new AbortController();
  const upload = connector().uploadDisk(source, 'cancelled/disk.vmdk', {
    extentBytes: EXTENT,
    signal: abort.signal,
    onProgress: (p) => {
      if (p.done > MiB && p.done < 2 * MiB) abort.abort(); // the second extent is on its way
    },
  });
  await expect(upload).rejects.toThrow(/abort/i);
  expect(fs.existsSync(datastoreFile('cancelled'))).toBe(false);
});

test('a dropped download resumes with a Range request, and a partial local file is completed', async () => {
  await connector().uploadDisk(source, 'lamina/download.vmdk', { extentBytes: 2 * MiB });
  const proxy = await CuttingProxy.start(sim.port);
  try {
    proxy.cutAfter('down', 1.5 * MiB);
    const local = path.join(work, 'dropped-download', 'disk.vmdk');
    await connector(proxy.port).downloadDisk('lamina/download.vmdk', local);
    expect(proxy.cuts).toBe(1);
    await qemuCompare(source, local);
    expect(proxy.downstreamBytes).toBeLessThan((DISK_MIB + 0.5) * MiB);

    const extent = path.join(work, 'dropped-download', 'download-f002.vmdk');
    fs.truncateSync(extent, 100_000);
    const before = proxy.downstreamBytes;
    await connector(proxy.port).downloadDisk('lamina/download.vmdk', local);
    await qemuCompare(source, local);
    expect(proxy.downstreamBytes - before).toBeLessThan(2.5 * MiB); // only the missing part of one extent
  } finally {
    await proxy.stop();
  }
});

test('cancelling mid-download removes the local files it created', async () => {
  await connector().uploadDisk(source, 'lamina/cancel-download.vmdk', { extentBytes: EXTENT });
  const folder = path.join(work, 'cancelled-download');
  const abort = new AbortController();
  const download = connector().downloadDisk('lamina/cancel-download.vmdk', path.join(folder, 'disk.vmdk'), {
    signal: abort.signal,
    onProgress: (p) => {
      if (p.done > MiB && p.done < 2 * MiB) abort.abort(); // the second extent is on its way
    },
  });
  await expect(download).rejects.toThrow(/abort/i);
  expect(fs.readdirSync(folder)).toEqual([]);
});

test('a session the file service no longer accepts (401) is renewed by logging in again', async () => {
  const proxy = await SessionCheckingProxy.start(sim.port, work);
  try {
    let expired = false;
    await connector(proxy.port).uploadDisk(source, 'lamina/renewed.vmdk', {
      extentBytes: EXTENT,
      onProgress: (p) => {
        if (p.done > MiB && !expired) {
          expired = true;
          proxy.expireSessions(); // vCenter restarted while extent 2 is on its way
        }
      },
    });
    expect(proxy.folderRejections).toBe(1);
    expect(proxy.logins).toBe(2);
    await qemuCompare(source, datastoreFile('lamina/renewed.vmdk'));
  } finally {
    await proxy.stop();
  }
});

test('deleteDisk removes the descriptor and every extent', async () => {
  const c = connector();
  await c.uploadDisk(source, 'deleted/disk.vmdk', { extentBytes: EXTENT });
  await c.deleteDisk('[LocalDS_0] deleted/disk.vmdk');
  expect(fs.readdirSync(datastoreFile('deleted'))).toEqual([]);
  await c.deleteDisk('deleted/disk.vmdk'); // deleting again is fine
});

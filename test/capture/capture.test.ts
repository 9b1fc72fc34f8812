import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ADMINS_ONLY } from '../../compositor/gold-image';
import { encodeSecurityDescriptor } from '../../compositor/security-descriptor';
import { FileAttribute, type VolumeOperation } from '../../compositor/volume-operations';
import type { CaptureReport } from '../../compositor/capture';
import { assessElasticFit, type ElasticFit } from '../../compositor/capture/elastic-fit';
import { inspectLayer } from '../../compositor/inspect';
import { layerIdentity } from '../../compositor/layer-metadata';
import { layerScriptPaths } from '../../compositor/scripts-runner';
import { parseRegText } from '../../registry';
import {
  composeImage,
  cutPartition,
  filesIn,
  hiveExport,
  lamina,
  ntfsCat,
  ntfsfixClean,
  ntfsList,
  ntfsSecurity,
  removeDir,
  run,
  scratchDir,
  toRaw,
} from '../compositor/tools';
import { childWithChanges, install } from './installer';

/**
 * Capture by difference (issue 16 §1): a simulated installer changes a copy of a packaging
 * machine's boot disk; `lamina layer capture` turns the difference into a layer that holds exactly
 * the changes, and composing that layer on the OS gives back what the installer left.
 */

const INSTALLED = new Date('2025-03-01T10:00:00Z');
const TIMES = { created: INSTALLED, written: INSTALLED, accessed: INSTALLED };

let dir: string;
let osLayer: string;
let base: string;
let after: { disk: string; volume: string };
let layer: string;
let report: CaptureReport;

async function ok(...args: string[]): Promise<string> {
  const result = await lamina(...args);
  if (result.code !== 0 || result.stderr !== '')
    throw new Error(`lamina ${args[0]} failed: ${result.stderr}`);
  return result.stdout;
}

/** Two captures of the same change: the same content hash and the same files and values, whatever their file names. */
async function expectSameLayer(actual: string, expected: string): Promise<void> {
  const [got, want] = [await inspectLayer(actual), await inspectLayer(expected)];
  expect(got.metadata.contentHash).toBe(want.metadata.contentHash);
  expect({ ...got, file: '', metadata: undefined }).toEqual({ ...want, file: '', metadata: undefined });
}

beforeAll(async () => {
  dir = scratchDir('capture');
  const gold = path.join(dir, 'gold.vhdx');
  await ok('dev', 'gold-image', '--out', gold, '--firmware', 'uefi', '--size-gib', '0.5', '--format', 'vhdx');
  // The packaging machine's base: the gold image with something an install will remove.
  const prepared = await install(gold, dir, 'base', {
    files: [
      { op: 'dir', path: '\\Program Files\\Legacy' },
      { op: 'file', path: '\\Program Files\\Legacy\\old.dll', content: Buffer.from('legacy component') },
    ],
    registry: {
      SOFTWARE:
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Legacy]\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Legacy\\Old]\n"Keep"="no"\n',
      SYSTEM:
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services]\n\n[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Enum]\n',
    },
  });
  base = path.join(dir, 'base.vhdx');
  run('qemu-img', ['convert', '-O', 'vhdx', prepared.disk, base]);
  osLayer = path.join(dir, 'os.vhdx');
  await ok('layer', 'import-os', base, '--name', 'Win10', '--out', osLayer);

  after = await install(base, dir, 'after', {
    files: [
      { op: 'dir', path: '\\Program Files\\Acme' },
      { op: 'file', path: '\\Program Files\\Acme\\app.exe', content: Buffer.from('MZ acme application') },
      {
        op: 'stream',
        path: '\\Program Files\\Acme\\app.exe',
        name: 'Zone.Identifier',
        content: Buffer.from('[ZoneTransfer]\r\nZoneId=3\r\n'),
      },
      {
        op: 'security',
        path: '\\Program Files\\Acme\\app.exe',
        descriptor: encodeSecurityDescriptor(ADMINS_ONLY),
      },
      {
        op: 'attributes',
        path: '\\Program Files\\Acme\\app.exe',
        attributes: FileAttribute.readOnly | FileAttribute.archive,
      },
      { op: 'times', path: '\\Program Files\\Acme\\app.exe', times: TIMES },
      {
        op: 'file',
        path: '\\Program Files\\Acme\\data\\settings.ini',
        content: Buffer.from('[acme]\r\nmode=full\r\n'),
      },
      {
        op: 'file',
        path: '\\Windows\\System32\\notepad.exe',
        content: Buffer.from('MZ notepad patched by acme'),
      },
      { op: 'delete', path: '\\Windows\\win.ini' },
      { op: 'delete', path: '\\Program Files\\Legacy' },
      // Noise: what any boot and install leave behind.
      { op: 'file', path: '\\pagefile.sys', content: Buffer.alloc(1 << 20, 7) },
      { op: 'file', path: '\\Windows\\Temp\\acme-setup.tmp', content: Buffer.from('unpacked installer') },
      {
        op: 'file',
        path: '\\Windows\\Prefetch\\ACMESETUP.EXE-1A2B3C4D.pf',
        content: Buffer.from('prefetch'),
      },
      { op: 'file', path: '\\Windows\\Logs\\acme-install.etl', content: Buffer.from('trace') },
    ],
    registry: {
      SOFTWARE: [
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme]',
        '',
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme\\App]',
        '"Version"="1.0"',
        '"Features"=dword:00000003',
        '',
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]',
        '"CurrentBuild"="19046"',
        '"ProductName"=-',
        '',
        '[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Legacy]',
        '',
      ].join('\n'),
      SYSTEM: [
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\AcmeSvc]',
        '"Start"=dword:00000002',
        '"Type"=dword:00000010',
        '"ImagePath"="C:\\\\Program Files\\\\Acme\\\\app.exe"',
        '',
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\MountedDevices]',
        '"\\\\DosDevices\\\\C:"=hex:12,34,56,78,00,00,10,00,00,00,00,00',
        '',
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\Windows]',
        '"ShutdownTime"=hex:00,11,22,33,44,55,66,77',
        '',
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Enum\\PCI]',
        '',
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Enum\\PCI\\VEN_15AD]',
        '"DeviceDesc"="VMware SVGA"',
        '',
      ].join('\n'),
    },
  });
  layer = path.join(dir, 'acme.vhdx');
  const reportFile = path.join(dir, 'capture.json');
  await ok(
    'layer',
    'capture',
    '--os',
    osLayer,
    '--base',
    base,
    '--after',
    after.disk,
    '--type',
    'app',
    '--name',
    'Acme',
    '--version',
    '1.0',
    '--out',
    layer,
    '--report',
    reportFile,
  );
  report = JSON.parse(readFileSync(reportFile, 'utf8')) as CaptureReport;
}, 600_000);

afterAll(() => removeDir(dir));

function layerVolume(): string {
  const raw = toRaw(layer, path.join(dir, 'acme-layer.raw'));
  return cutPartition(raw, 0, path.join(dir, 'acme-layer.ntfs'));
}

test('the captured layer holds exactly the files the installer created or changed', () => {
  run('qemu-img', ['check', layer]); // throws on a damaged container
  const volume = layerVolume();
  expect(ntfsfixClean(volume)).toBe(true);
  expect(
    ntfsList(volume, '/')
      .filter((n) => !n.startsWith('$'))
      .sort(),
  ).toEqual(['.lamina', 'Program Files', 'Windows']);
  expect(ntfsList(volume, '/Program Files').sort()).toEqual(['Acme']);
  expect(ntfsList(volume, '/Program Files/Acme').sort()).toEqual(['app.exe', 'data']);
  expect(ntfsList(volume, '/Program Files/Acme/data')).toEqual(['settings.ini']);
  expect(ntfsList(volume, '/Windows')).toEqual(['System32']);
  expect(ntfsList(volume, '/Windows/System32')).toEqual(['notepad.exe']);
  for (const file of [
    '/Program Files/Acme/app.exe',
    '/Program Files/Acme/data/settings.ini',
    '/Windows/System32/notepad.exe',
  ])
    expect(ntfsCat(volume, file)).toBe(ntfsCat(after.volume, file));
  expect(ntfsCat(volume, '/Program Files/Acme/app.exe', 'Zone.Identifier')).toBe(
    '[ZoneTransfer]\r\nZoneId=3\r\n',
  );
  expect(ntfsSecurity(volume, '/Program Files/Acme/app.exe')).toBe(
    ntfsSecurity(after.volume, '/Program Files/Acme/app.exe'),
  );
  expect(JSON.parse(ntfsCat(volume, '/.lamina/deletions.json'))).toEqual([
    '\\Program Files\\Legacy',
    '\\Windows\\win.ini',
  ]);
});

test('registry.reg is the delta of the machine hives, CurrentControlSet for the current control set, noise left out', () => {
  const text = ntfsCat(layerVolume(), '/.lamina/registry.reg');
  const operations = parseRegText(text, 'registry.reg').operations.map((op) =>
    op.kind === 'setValue'
      ? `set ${op.key} ${op.name}`
      : op.kind === 'deleteValue'
        ? `delete ${op.key} ${op.name}`
        : `${op.kind} ${op.key}`,
  );
  expect(operations.sort()).toEqual(
    [
      'createKey HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme',
      'createKey HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme\\App',
      'set HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme\\App Version',
      'set HKEY_LOCAL_MACHINE\\SOFTWARE\\Acme\\App Features',
      // A .reg file names the key of its values in a [KEY] line, which also creates it.
      'createKey HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion',
      'set HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion CurrentBuild',
      'delete HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion ProductName',
      'deleteKey HKEY_LOCAL_MACHINE\\SOFTWARE\\Legacy',
      'createKey HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\AcmeSvc',
      'set HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\AcmeSvc Start',
      'set HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\AcmeSvc Type',
      'set HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\AcmeSvc ImagePath',
    ].sort(),
  );
});

test('the report names the noise each rule left out, and the elastic-fit verdict with its reasons', () => {
  const excluded = Object.fromEntries(report.excluded.map((e) => [e.rule, e.items]));
  expect(excluded['paging-files']).toEqual(['\\pagefile.sys']);
  // The gold image has none of these folders: the installer made them, and they are left out too.
  expect(excluded['windows-temp']).toEqual(['\\Windows\\Temp', '\\Windows\\Temp\\acme-setup.tmp']);
  expect(excluded['prefetch']).toEqual([
    '\\Windows\\Prefetch',
    '\\Windows\\Prefetch\\ACMESETUP.EXE-1A2B3C4D.pf',
  ]);
  expect(excluded['logs']).toEqual(['\\Windows\\Logs', '\\Windows\\Logs\\acme-install.etl']);
  expect(excluded['mounted-devices']).toEqual(['HKEY_LOCAL_MACHINE\\SYSTEM\\MountedDevices']);
  expect(excluded['shutdown-times']).toEqual([
    'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Windows "ShutdownTime"',
  ]);
  expect(excluded['device-enumeration']).toEqual(['HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Enum']);
  expect(excluded['registry-hives']).toEqual(
    expect.arrayContaining(['\\Windows\\System32\\config\\SOFTWARE', '\\Windows\\System32\\config\\SYSTEM']),
  );
  expect(report.excluded.find((e) => e.rule === 'paging-files')?.bytes).toBe(1 << 20);
  expect(report.exclusionList.version).toBe(1);
  expect(report.captured).toMatchObject({
    files: 3,
    deletions: ['\\Program Files\\Legacy', '\\Windows\\win.ini'],
  });
  expect(report.captured.items.filter((i) => !i.dir).map((i) => [i.path, i.kind])).toEqual([
    ['\\Program Files\\Acme\\app.exe', 'added'],
    ['\\Program Files\\Acme\\data\\settings.ini', 'added'],
    ['\\Windows\\System32\\notepad.exe', 'changed'],
  ]);
  expect(report.elasticFit.verdict).toBe('unfit');
  expect(report.elasticFit.reasons.map((r) => r.rule).sort()).toEqual(
    ['auto-start-service', 'deletes-os-file', 'deletes-os-file', 'replaces-os-file'].sort(),
  );
  expect(report.layer).toMatchObject({ name: 'Acme', type: 'app', version: '1.0' });
});

test('composing the layer on the OS gives every captured path the bytes and values of the disk after the install', async () => {
  const image = await composeImage(
    path.join(dir, 'image.vhdx'),
    '--os',
    osLayer,
    '--app',
    layer,
    '--size-gib',
    '1',
    '--firmware',
    'uefi',
    '--format',
    'vhdx',
  );
  const raw = toRaw(image, path.join(dir, 'image.raw'));
  const windows = cutPartition(raw, 2, path.join(dir, 'image.ntfs'));
  for (const item of report.captured.items.filter((i) => !i.dir)) {
    const file = item.path.replace(/\\/g, '/');
    expect(ntfsCat(windows, file)).toBe(ntfsCat(after.volume, file));
  }
  expect(ntfsList(windows, '/Windows')).not.toContain('win.ini');
  expect(ntfsList(windows, '/Program Files')).not.toContain('Legacy');
  expect(ntfsList(windows, '/')).not.toContain('pagefile.sys');
  for (const key of ['\\Acme', '\\Microsoft\\Windows NT\\CurrentVersion'])
    expect(hiveExport(windows, 'SOFTWARE', key, dir)).toBe(hiveExport(after.volume, 'SOFTWARE', key, dir));
  expect(hiveExport(windows, 'SYSTEM', '\\ControlSet001\\Services\\AcmeSvc', dir)).toBe(
    hiveExport(after.volume, 'SYSTEM', '\\ControlSet001\\Services\\AcmeSvc', dir),
  );
  expect(() => hiveExport(windows, 'SOFTWARE', '\\Legacy', dir)).toThrow();
  expect(() => hiveExport(windows, 'SYSTEM', '\\MountedDevices', dir)).toThrow();
});

test('raw disks, which the core cannot read in place, give the same layer', async () => {
  const out = path.join(dir, 'acme-raw.vhdx');
  await ok(
    'layer',
    'capture',
    '--os',
    osLayer,
    '--base',
    path.join(dir, 'base.raw'),
    '--after',
    after.disk,
    '--type',
    'app',
    '--name',
    'Acme',
    '--version',
    '1.0',
    '--out',
    out,
  );
  await expectSameLayer(out, layer);
});

test('AFTER as a child of BASE gives the same layer, comparing only the MFT records in the blocks it holds', async () => {
  const baseVmdk = path.join(dir, 'base.vmdk');
  const child = path.join(dir, 'after-child.vmdk');
  run('qemu-img', ['convert', '-O', 'vmdk', base, baseVmdk]);
  childWithChanges(baseVmdk, path.join(dir, 'base.raw'), after.disk, child);
  const out = path.join(dir, 'acme-child.vhdx');
  const reportFile = path.join(dir, 'capture-child.json');
  await ok(
    'layer',
    'capture',
    '--os',
    osLayer,
    '--base',
    baseVmdk,
    '--after',
    child,
    '--type',
    'app',
    '--name',
    'Acme',
    '--version',
    '1.0',
    '--out',
    out,
    '--report',
    reportFile,
  );
  await expectSameLayer(out, layer);

  const childReport = JSON.parse(readFileSync(reportFile, 'utf8')) as CaptureReport;
  expect(childReport.captured).toEqual(report.captured);
  expect(report.childOfBase).toBeNull();
  expect(report.records.compared).toBe(report.records.records);
  expect(childReport.childOfBase!.bytes).toBeGreaterThan(0);
  expect(childReport.records.records).toBe(report.records.records);
});

test('of a child, only the MFT records in the blocks it holds are compared', async () => {
  // A base with a larger MFT (2,000 files), and a child that adds one file.
  const files: VolumeOperation[] = Array.from({ length: 2000 }, (_, i) => ({
    op: 'file' as const,
    path: `\\Windows\\WinSxS\\c${Math.floor(i / 500)}\\f${i}.dll`,
    content: Buffer.from(`component ${i}`),
  }));
  const bigBase = await install(base, dir, 'big-base', { files });
  const baseVmdk = path.join(dir, 'big-base.vmdk');
  run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', bigBase.disk, baseVmdk]);
  const changed = await install(baseVmdk, dir, 'big-after', {
    files: [{ op: 'file', path: '\\Program Files\\Tiny\\tiny.exe', content: Buffer.from('MZ tiny') }],
  });
  const child = path.join(dir, 'big-after.vmdk');
  childWithChanges(baseVmdk, bigBase.disk, changed.disk, child);
  const reportFile = path.join(dir, 'capture-big.json');
  await ok(
    'layer',
    'capture',
    '--os',
    osLayer,
    '--base',
    baseVmdk,
    '--after',
    child,
    '--type',
    'app',
    '--name',
    'Tiny',
    '--out',
    path.join(dir, 'tiny.vhdx'),
    '--report',
    reportFile,
  );
  const tiny = JSON.parse(readFileSync(reportFile, 'utf8')) as CaptureReport;
  expect(tiny.captured.items.map((item) => item.path)).toEqual([
    '\\Program Files\\Tiny',
    '\\Program Files\\Tiny\\tiny.exe',
  ]);
  expect(tiny.records.records).toBeGreaterThan(2000);
  expect(tiny.records.compared).toBeGreaterThan(0);
  expect(tiny.records.compared).toBeLessThan(tiny.records.records / 4);

  // BASE as a copy of the child's parent (the packaging machine's parent is a copy of the composed
  // disk): the same identity (CID), so the block map still applies; another disk's does not.
  const copy = path.join(dir, 'big-base-copy.vmdk');
  run('cp', [baseVmdk, copy]);
  const fromCopy = path.join(dir, 'capture-big-copy.json');
  await ok(
    ...['layer', 'capture', '--os', osLayer, '--base', copy, '--after', child, '--type', 'app'],
    ...['--name', 'Tiny', '--out', path.join(dir, 'tiny-2.vhdx'), '--report', fromCopy],
  );
  const viaCopy = JSON.parse(readFileSync(fromCopy, 'utf8')) as CaptureReport;
  expect(viaCopy.records).toEqual(tiny.records);
  expect(viaCopy.captured).toEqual(tiny.captured);
});

test('--scripts attaches first-start scripts, and --previous makes the version whole with the one before', async () => {
  const scripts = path.join(dir, 'scripts');
  mkdirSync(scripts);
  writeFileSync(path.join(scripts, 'configure.ps1'), 'Write-Output "Acme configured"');
  // Version 2 captured on a machine that showed version 1 (the same install, the same changes).
  const out = path.join(dir, 'acme-2.vhdx');
  const reportFile = path.join(dir, 'capture-2.json');
  await ok(
    'layer',
    'capture',
    '--os',
    osLayer,
    '--base',
    base,
    '--after',
    after.disk,
    '--type',
    'app',
    '--name',
    'Acme',
    '--version',
    '2.0',
    '--previous',
    layer,
    '--scripts',
    scripts,
    '--out',
    out,
    '--report',
    reportFile,
  );
  expect(await layerScriptPaths(out)).toEqual(['configure.ps1']);
  const volume = cutPartition(toRaw(out, path.join(dir, 'acme-2.raw')), 0, path.join(dir, 'acme-2.ntfs'));
  expect(ntfsCat(volume, '/.lamina/scripts/configure.ps1')).toBe('Write-Output "Acme configured"');
  const [v1, v2] = [await inspectLayer(layer), await inspectLayer(out)];
  expect(v2.metadata).toMatchObject({ name: 'Acme', version: '2.0' });
  expect(v2.deletions).toEqual(v1.deletions);
  expect({ files: v2.files, bytes: v2.bytes }).toEqual({ files: v1.files, bytes: v1.bytes });
  const written = JSON.parse(readFileSync(reportFile, 'utf8')) as CaptureReport;
  expect(written.layer.id).toBe(v2.metadata.id);
  expect(written.timings.map((t) => t.phase)).toEqual(['diff', 'registry', 'write', 'merge']);
});

test('a scan of the layer disk gives the verdict the capture gave', async () => {
  const sorted = (fit: ElasticFit) => ({
    ...fit,
    reasons: [...fit.reasons].sort((a, b) => a.detail.localeCompare(b.detail)),
  });
  expect(sorted(await assessElasticFit(layer, { osLayer }))).toEqual(sorted(report.elasticFit));
  // Without the OS layer nothing counts as the OS's own files: only the service remains.
  expect((await assessElasticFit(layer)).reasons.map((r) => r.rule)).toEqual(['auto-start-service']);
});

test('an OS layer version is the whole volume after the update, keeping the OS layer identity', async () => {
  const out = path.join(dir, 'os-v2.vhdx');
  await ok(
    'layer',
    'capture',
    '--os',
    osLayer,
    '--base',
    base,
    '--after',
    after.disk,
    '--type',
    'os',
    '--name',
    'Win10',
    '--version',
    '2',
    '--out',
    out,
  );
  const volume = cutPartition(toRaw(out, path.join(dir, 'os-v2.raw')), 0, path.join(dir, 'os-v2.ntfs'));
  for (const file of [
    '/Program Files/Acme/app.exe',
    '/Windows/System32/notepad.exe',
    '/bootmgr',
    '/pagefile.sys',
  ])
    expect(ntfsCat(volume, file)).toBe(ntfsCat(after.volume, file));
  expect(ntfsList(volume, '/Windows')).not.toContain('win.ini');
  const [v1, v2] = [await inspectLayer(osLayer), await inspectLayer(out)];
  expect(v2.metadata).toMatchObject({ type: 'os', version: '2' });
  expect(layerIdentity(v2.metadata)).toBe(layerIdentity(v1.metadata));
});

describe('lamina layer capture refuses', () => {
  async function refused(args: string[], message: RegExp): Promise<void> {
    const out = path.join(dir, 'refused', 'layer.vhdx');
    run('mkdir', ['-p', path.dirname(out)]);
    const result = await lamina(
      'layer',
      'capture',
      '--os',
      osLayer,
      '--type',
      'app',
      '--name',
      'X',
      '--out',
      out,
      ...args,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect(filesIn(path.dirname(out))).toEqual([]);
  }

  test('first-start scripts on an OS layer version', async () => {
    const out = path.join(dir, 'refused-os', 'os-2.vhdx');
    run('mkdir', ['-p', path.dirname(out)]);
    const result = await lamina(
      ...['layer', 'capture', '--os', osLayer, '--base', base, '--after', after.disk],
      ...['--type', 'os', '--name', 'Win10', '--scripts', dir, '--out', out],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /first-start scripts are attached to app and platform layers, not OS layers/,
    );
    expect(filesIn(path.dirname(out))).toEqual([]);
  });

  test('BASE and AFTER of different disks', async () => {
    const other = path.join(dir, 'other.vhdx');
    await ok(
      'dev',
      'gold-image',
      '--out',
      other,
      '--firmware',
      'uefi',
      '--size-gib',
      '0.75',
      '--format',
      'vhdx',
    );
    await refused(['--base', other, '--after', after.disk], /are different disks/);
  });

  test('a disk without an NTFS volume', async () => {
    const fat = path.join(dir, 'fat.raw');
    run('truncate', ['-s', '64M', fat]);
    run('sh', ['-c', `echo 'start=2048, type=07' | sfdisk -q ${fat}`]);
    run('mkfs.fat', ['-F', '32', '--offset', '2048', fat, '64512']);
    await refused(
      ['--base', base, '--after', fat],
      /AFTER .*no NTFS partition found: capture needs the NTFS boot volume/,
    );
  });

  test('a corrupt hive', async () => {
    const hive = execFileSync('ntfscat', [path.join(dir, 'base.ntfs'), '/Windows/System32/config/SOFTWARE']);
    hive.fill(0xa5, 4096, 8192); // the first hive bin: its header and the root key's cells
    const broken = await install(base, dir, 'broken', {
      files: [{ op: 'data', path: '\\Windows\\System32\\config\\SOFTWARE', content: hive }],
    });
    await refused(['--base', base, '--after', broken.disk], /SOFTWARE hive .* is corrupt/);
  });
});

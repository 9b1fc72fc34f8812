import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { compose } from '../../compositor/compose';
import { writeDisk } from '../../compositor/disk-image';
import { planDisk, windowsPartition } from '../../compositor/disk-layout';
import { applyToVolume, formatVolume } from '../../compositor/volume';
import { filesIn, lamina, removeDir, run, runStatus, scratchDir, sha256, toRaw } from './tools';

/** Bad inputs: a clear message, a non-zero exit code, no output left behind, inputs untouched. */

let dir: string;
let os: string;
let app: string;

beforeAll(async () => {
  dir = scratchDir('bad-input');
  const gold = path.join(dir, 'gold.raw');
  expect(
    (await lamina('dev', 'gold-image', '--out', gold, '--firmware', 'bios', '--size-gib', '0.25')).code,
  ).toBe(0);
  os = path.join(dir, 'os.vhdx');
  expect((await lamina('layer', 'import-os', gold, '--name', 'Win', '--out', os)).code).toBe(0);
  app = path.join(dir, 'app.vhdx');
  const source = path.join(dir, 'app-src');
  run('mkdir', ['-p', source]);
  writeFileSync(path.join(source, 'readme.txt'), 'app');
  expect(
    (
      await lamina(
        'layer',
        'build',
        '--type',
        'app',
        '--name',
        'App',
        '--os',
        os,
        '--from',
        source,
        '--out',
        app,
      )
    ).code,
  ).toBe(0);
}, 300_000);

afterAll(() => removeDir(dir));

/** Runs a failing command and checks the exit code, the message, and that nothing was left. */
async function expectFailure(args: string[], message: RegExp, inputs: string[] = []): Promise<void> {
  const before = filesIn(dir);
  const hashes = inputs.map(sha256);
  const result = await lamina(...args);
  expect(result.code).not.toBe(0);
  expect(result.stderr).toMatch(message);
  expect(filesIn(dir)).toEqual(before);
  expect(inputs.map(sha256)).toEqual(hashes);
}

function composeArgs(...layers: string[]): string[] {
  return [
    ...layers,
    '--size-gib',
    '0.5',
    '--firmware',
    'bios',
    '--format',
    'vhdx',
    '--out',
    path.join(dir, 'out.vhdx'),
  ];
}

it('refuses a missing layer', async () => {
  await expectFailure(
    ['compose', ...composeArgs('--os', os, '--app', path.join(dir, 'nope.vhdx'))],
    /nope\.vhdx: missing or unreadable layer/,
    [os],
  );
});

it('refuses an output or report folder that does not exist, before any work', async () => {
  await expectFailure(
    [
      'compose',
      ...composeArgs('--os', os).map((a) =>
        a.endsWith('out.vhdx') ? path.join(dir, 'nope', 'out.vhdx') : a,
      ),
    ],
    /nope: no such folder/,
    [os],
  );
  await expectFailure(
    ['compose', ...composeArgs('--os', os), '--report', path.join(dir, 'nope', 'report.json')],
    /nope: no such folder/,
    [os],
  );
});

it('refuses an app layer bound to another OS layer', async () => {
  const otherGold = path.join(dir, 'other-gold.vhdx');
  expect(
    (
      await lamina(
        'dev',
        'gold-image',
        '--out',
        otherGold,
        '--firmware',
        'uefi',
        '--size-gib',
        '0.5',
        '--format',
        'vhdx',
      )
    ).code,
  ).toBe(0);
  const otherOs = path.join(dir, 'other-os.vhdx');
  expect((await lamina('layer', 'import-os', otherGold, '--name', 'Other', '--out', otherOs)).code).toBe(0);
  await expectFailure(
    ['compose', ...composeArgs('--os', otherOs, '--app', app)],
    /App .* is bound to OS layer Win, not to Other/,
    [otherOs, app],
  );
  await expectFailure(['compose', ...composeArgs('--os', os, '--app', otherOs)], /two OS layers/, [
    os,
    otherOs,
  ]);
}, 120_000);

it('refuses a layer whose NTFS is corrupt', async () => {
  const broken = path.join(dir, 'broken-os.raw');
  toRaw(os, broken);
  const disk = readFileSync(broken);
  const boot = 1024 * 1024;
  const mftCluster = Number(disk.readBigUInt64LE(boot + 0x30));
  disk.fill(0x5a, boot + mftCluster * 4096, boot + mftCluster * 4096 + 64 * 1024);
  writeFileSync(broken, disk);
  await expectFailure(['compose', ...composeArgs('--os', broken)], /not a usable NTFS volume/, [broken]);
});

it('names a layer read in place whose NTFS is corrupt', async () => {
  const broken = path.join(dir, 'broken-app.raw');
  toRaw(app, broken);
  const disk = readFileSync(broken);
  const boot = 1024 * 1024;
  disk.fill(0x5a, boot + 0x30, boot + 0x40); // where the MFT is: nowhere
  writeFileSync(broken, disk);
  await expectFailure(
    ['compose', ...composeArgs('--os', os, '--app', broken)],
    /broken-app\.raw: not a usable NTFS volume/,
    [broken],
  );
});

it('refuses a --from that is neither a folder nor a zip', async () => {
  const notZip = path.join(dir, 'readme.txt');
  writeFileSync(notZip, 'not a zip');
  const args = [
    'layer',
    'build',
    '--type',
    'app',
    '--name',
    'X',
    '--os',
    os,
    '--from',
    notZip,
    '--out',
    path.join(dir, 'x.vhdx'),
  ];
  await expectFailure(args, /readme\.txt/, [os, notZip]);
});

it('reports the line of a .reg syntax error', async () => {
  const reg = path.join(dir, 'bad.reg');
  writeFileSync(
    reg,
    'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\X]\r\n"Broken"=dword:xyz\r\n',
  );
  const args = [
    'layer',
    'build',
    '--type',
    'app',
    '--name',
    'Bad',
    '--os',
    os,
    '--from',
    path.join(dir, 'app-src'),
    '--reg',
    reg,
    '--out',
    path.join(dir, 'bad.vhdx'),
  ];
  await expectFailure(args, /bad\.reg:4:/, [os, reg]);
});

it('refuses an OS whose hive is not a hive', async () => {
  const disk = path.join(dir, 'fake-windows.raw');
  const layout = planDisk('bios', 128 * 2 ** 20);
  const partition = path.join(dir, 'fake.ntfs');
  await formatVolume(partition, windowsPartition(layout).size, { label: 'Windows', startSector: 2048 });
  await applyToVolume(
    partition,
    ['SYSTEM', 'SOFTWARE', 'DEFAULT'].map((hive) => ({
      op: 'file' as const,
      path: `\\Windows\\System32\\config\\${hive}`,
      content: Buffer.alloc(8192, hive === 'SOFTWARE' ? 'x' : 'regf'),
    })),
  );
  await writeDisk(layout, { windows: partition }, 'raw', disk);
  run('rm', [partition]);
  await expectFailure(
    ['layer', 'import-os', disk, '--name', 'Fake', '--out', path.join(dir, 'fake-os.vhdx')],
    /SOFTWARE is not a registry hive/,
    [disk],
  );
});

it('refuses an image smaller than the OS volume', async () => {
  await expectFailure(
    ['compose', ...composeArgs('--os', os).map((a) => (a === '0.5' ? '0.125' : a))],
    /smaller than the OS layer's volume/,
    [os],
  );
});

it('says the image is too small when the layers do not fit', async () => {
  const source = path.join(dir, 'big-src');
  run('mkdir', ['-p', source]);
  run('truncate', ['-s', '400M', path.join(source, 'big.bin')]);
  const big = path.join(dir, 'big.vhdx');
  expect(
    (
      await lamina(
        'layer',
        'build',
        '--type',
        'app',
        '--name',
        'Big',
        '--os',
        os,
        '--from',
        source,
        '--out',
        big,
      )
    ).code,
  ).toBe(0);
  run('rm', ['-r', source]);
  const args = [
    'compose',
    '--os',
    os,
    '--app',
    big,
    '--size-gib',
    '0.375',
    '--firmware',
    'bios',
    '--format',
    'raw',
    '--out',
    path.join(dir, 'out.raw'),
  ];
  await expectFailure(args, /too small for the content \(Big did not fit\)/, [os, big]);
}, 120_000);

/** A tiny tmpfs to fill up; mounting needs root, so without it the test is skipped (and says so). */
const smallFs = scratchDir('small-fs');
const canMount = runStatus('mount', ['-t', 'tmpfs', '-o', 'size=6M', 'tmpfs', smallFs]).status === 0;
afterAll(() => {
  if (canMount) runStatus('umount', [smallFs]);
  removeDir(smallFs);
});

(canMount ? it : it.skip)('says the disk is full when the output file system fills up', async () => {
  const out = path.join(smallFs, 'image.raw');
  const hash = sha256(os);
  const result = await lamina(
    'compose',
    '--os',
    os,
    '--size-gib',
    '0.5',
    '--firmware',
    'bios',
    '--format',
    'raw',
    '--out',
    out,
  );
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/disk full: no space left for .*image\.raw/);
  expect(filesIn(smallFs)).toEqual([]);
  expect(sha256(os)).toBe(hash);
});

it('stops when cancelled, leaving nothing behind', async () => {
  const before = filesIn(dir);
  const cancel = new AbortController();
  const phases: string[] = [];
  const composing = compose({
    os,
    apps: [app],
    size: 512 * 2 ** 20,
    firmware: 'bios',
    format: 'vhdx',
    out: path.join(dir, 'cancelled.vhdx'),
    signal: cancel.signal,
    onProgress: ({ phase }) => {
      phases.push(phase);
      if (phase.startsWith('overlay')) cancel.abort();
    },
  });
  await expect(composing).rejects.toThrow(/abort/i);
  expect(phases).not.toContain('write');
  expect(filesIn(dir)).toEqual(before);
});

it('rejects bad options with exit code 2', async () => {
  await expectFailure(
    ['compose', ...composeArgs('--os', os).map((a) => (a === 'bios' ? 'chs' : a))],
    /--firmware must be one of bios, uefi/,
  );
  expect((await lamina('compose', '--os', os)).code).toBe(2);
});

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { installIntoBootDisk } from '../../compositor/boot-disk-install';
import { inspectLayer } from '../../compositor/inspect';
import { projectRoot } from '../../lib/project-root';
import {
  composeImage,
  cutPartition,
  hiveExport,
  lamina,
  ntfsCat,
  ntfsList,
  removeDir,
  run,
  scratchDir,
  toRaw,
} from './tools';

/**
 * OS layer versions (issue 16 §2) and layer scripts (§4), through the CLI and checked with ntfscat,
 * ntfsls and hivexregedit: an app layer made on OS version 1 composes with version 2 (made from a
 * VM disk whose Windows was updated), also when its disks come from before OS layers had versions;
 * the image gets every layer's scripts and the first-start runner, whose service entry is in the
 * SYSTEM hive.
 */
const REG_HEADER = 'Windows Registry Editor Version 5.00\r\n\r\n';

let dir: string;
let gold: string;
let os1: string;

async function ok(...args: string[]): Promise<string> {
  const result = await lamina(...args);
  if (result.code !== 0 || result.stderr !== '')
    throw new Error(`lamina ${args[0]} ${args[1]} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

function tree(name: string, files: Record<string, string>): string {
  const root = path.join(dir, name);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  return root;
}

/** A copy of the gold image's disk on which "Windows Update" replaced a system file and set a value. */
async function updatedGold(name: string): Promise<string> {
  const disk = path.join(dir, `${name}.vhdx`);
  run('cp', ['--sparse=always', gold, disk]);
  const reg = path.join(dir, `${name}.reg`);
  writeFileSync(
    reg,
    `${REG_HEADER}[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]\r\n"UBR"=dword:00000999\r\n`,
  );
  await installIntoBootDisk(disk, {
    from: tree(`${name}-files`, { 'Windows/System32/update.dll': `updated by ${name}` }),
    reg,
  });
  return disk;
}

/** The Windows partition of an image as a raw partition file, for ntfs-3g's tools. */
function windowsVolume(image: string, name: string): string {
  const raw = toRaw(image, path.join(dir, `${name}.raw`));
  return cutPartition(raw, 0, path.join(dir, `${name}.ntfs`));
}

beforeAll(async () => {
  dir = scratchDir('os-versions');
  gold = path.join(dir, 'gold.vhdx');
  await ok(
    'dev',
    'gold-image',
    '--out',
    gold,
    '--firmware',
    'bios',
    '--size-gib',
    '0.25',
    '--format',
    'vhdx',
  );
  os1 = path.join(dir, 'os1.vhdx');
  // Without --version-of: the layer.json an OS disk had before OS layers had versions (no shared identity).
  await ok('layer', 'import-os', gold, '--name', 'Win', '--version', '1', '--out', os1);
}, 120_000);
afterAll(() => removeDir(dir));

it('an app layer made on OS version 1 composes with version 2 made from an updated VM disk', async () => {
  const app = path.join(dir, 'app.vhdx');
  await ok(
    'layer',
    'build',
    '--type',
    'app',
    '--name',
    'Editor',
    '--version',
    '1',
    '--os',
    os1,
    '--from',
    tree('editor', { 'Program Files/Editor/editor.exe': 'MZ editor' }),
    '--sequence',
    '10',
    '--out',
    app,
  );
  const os2 = path.join(dir, 'os2.vhdx');
  await ok(
    'layer',
    'import-os',
    await updatedGold('v2'),
    '--name',
    'Win',
    '--version',
    '2',
    '--version-of',
    os1,
    '--out',
    os2,
  );

  const [v1, v2, editor] = await Promise.all(
    [os1, os2, app].map(async (d) => (await inspectLayer(d)).metadata),
  );
  expect(v1.layer).toBeUndefined();
  expect(v2).toMatchObject({ layer: v1.id, version: '2' });
  expect(v2.id).not.toBe(v1.id);
  expect(editor.os).toEqual({ id: v1.id, name: 'Win', version: '1' });

  const image = await composeImage(
    path.join(dir, 'v2.vhdx'),
    '--os',
    os2,
    '--app',
    app,
    '--size-gib',
    '1',
    '--firmware',
    'bios',
    '--format',
    'vhdx',
  );
  const volume = windowsVolume(image, 'v2-image');
  expect(ntfsCat(volume, '/Program Files/Editor/editor.exe')).toBe('MZ editor');
  expect(ntfsCat(volume, '/Windows/System32/update.dll')).toBe('updated by v2');
  expect(hiveExport(volume, 'SOFTWARE', '\\Microsoft\\Windows NT\\CurrentVersion', dir)).toMatch(
    /"UBR"=dword:00000999/,
  );
}, 180_000);

it('versions of one OS layer made before they shared an identity each keep their app layers composing', async () => {
  // Two OS disks of the same layer from before: each its own identity, an app layer bound to the second.
  const older = path.join(dir, 'legacy-b.vhdx');
  await ok(
    'layer',
    'import-os',
    await updatedGold('legacy-b'),
    '--name',
    'Win',
    '--version',
    '1b',
    '--out',
    older,
  );
  const app = path.join(dir, 'legacy-app.vhdx');
  await ok(
    'layer',
    'build',
    '--type',
    'app',
    '--name',
    'Viewer',
    '--os',
    older,
    '--from',
    tree('viewer', { 'Program Files/Viewer/viewer.exe': 'MZ viewer' }),
    '--out',
    app,
  );
  const os3 = path.join(dir, 'os3.vhdx');
  await ok(
    'layer',
    'import-os',
    await updatedGold('v3'),
    '--name',
    'Win',
    '--version',
    '3',
    '--version-of',
    os1,
    '--version-of',
    older,
    '--out',
    os3,
  );
  const v3 = (await inspectLayer(os3)).metadata;
  expect(v3.layer).toBe((await inspectLayer(os1)).metadata.id);
  expect(v3.formerIds).toEqual([(await inspectLayer(older)).metadata.id]);

  const image = await composeImage(
    path.join(dir, 'v3.vhdx'),
    '--os',
    os3,
    '--app',
    app,
    '--size-gib',
    '1',
    '--firmware',
    'bios',
    '--format',
    'vhdx',
  );
  expect(ntfsCat(windowsVolume(image, 'v3-image'), '/Program Files/Viewer/viewer.exe')).toBe('MZ viewer');
}, 180_000);

it('refuses an app layer of another OS layer, naming both', async () => {
  const other = path.join(dir, 'other.vhdx');
  await ok('layer', 'import-os', gold, '--name', 'Server', '--out', other);
  const app = path.join(dir, 'bound.vhdx');
  await ok(
    'layer',
    'build',
    '--type',
    'app',
    '--name',
    'Bound',
    '--os',
    os1,
    '--from',
    tree('bound', { 'bound.txt': 'x' }),
    '--out',
    app,
  );
  const result = await lamina(
    'compose',
    '--os',
    other,
    '--app',
    app,
    '--size-gib',
    '1',
    '--firmware',
    'bios',
    '--format',
    'vhdx',
    '--out',
    path.join(dir, 'refused.vhdx'),
  );
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/Bound \(.*bound\.vhdx\) is bound to OS layer Win, not to Server/);
  expect(ntfsList(windowsVolume(gold, 'gold'), '/').length).toBeGreaterThan(0); // the gold image is intact
}, 120_000);

it("places every layer's scripts in priority order with the first-start runner and its service entry", async () => {
  const build = async (name: string, type: string, sequence: number, scripts: Record<string, string>) => {
    const out = path.join(dir, `${name}.vhdx`);
    await ok(
      'layer',
      'build',
      '--type',
      type,
      '--name',
      name,
      '--os',
      os1,
      '--sequence',
      String(sequence),
      '--from',
      tree(`${name}-files`, { [`${name}.txt`]: name }),
      '--scripts',
      tree(`${name}-scripts`, scripts),
      '--out',
      out,
    );
    return out;
  };
  const later = await build('Later', 'app', 20, { 'setup.cmd': '@echo later\r\n' });
  const earlier = await build('Earlier', 'app', 10, {
    'setup.ps1': 'Write-Output earlier\r\n',
    'sub/helper.cmd': '@exit 0\r\n',
  });
  const platform = await build('Platform', 'platform', 5, { 'vda.cmd': '@echo vda\r\n' });
  const report = path.join(dir, 'scripts-report.json');
  const image = await composeImage(
    path.join(dir, 'scripts.vhdx'),
    '--os',
    os1,
    '--app',
    later,
    '--app',
    earlier,
    '--platform',
    platform,
    '--size-gib',
    '1',
    '--firmware',
    'bios',
    '--format',
    'vhdx',
    '--report',
    report,
  );
  const volume = windowsVolume(image, 'scripts-image');
  const firstStart = '/ProgramData/Lamina/FirstStart';
  // Numbered lowest priority first: apps by creation sequence, the platform last (the OS layer is 001).
  expect(ntfsList(volume, `${firstStart}/scripts`)).toEqual(['002-Earlier', '003-Later', '004-Platform']);
  expect(ntfsCat(volume, `${firstStart}/scripts/002-Earlier/setup.ps1`)).toBe('Write-Output earlier\r\n');
  expect(ntfsCat(volume, `${firstStart}/scripts/002-Earlier/sub/helper.cmd`)).toBe('@exit 0\r\n');
  expect(ntfsCat(volume, `${firstStart}/scripts/004-Platform/vda.cmd`)).toBe('@echo vda\r\n');
  for (const runner of ['runner.cmd', 'runner.ps1'])
    expect(ntfsCat(volume, `${firstStart}/${runner}`)).toBe(
      readFileSync(path.join(projectRoot(), 'compositor', 'first-start', runner), 'utf8'),
    );
  const service = hiveExport(volume, 'SYSTEM', '\\ControlSet001\\Services\\LaminaFirstStart', dir);
  expect(service).toMatch(/"Start"=dword:00000002/);
  expect(service).toMatch(/"Type"=dword:00000010/);
  expect(service).toContain('"ObjectName"=str(1):"LocalSystem"');
  expect(service).toContain(
    '"ImagePath"=str(2):"%SystemRoot%\\System32\\cmd.exe /c \\"%SystemDrive%\\ProgramData\\Lamina\\FirstStart\\runner.cmd\\""',
  );
  expect(JSON.parse(readFileSync(report, 'utf8')).scripts.map((s: { layer: string }) => s.layer)).toEqual([
    'Earlier',
    'Earlier',
    'Later',
    'Platform',
  ]);

  // Layers without scripts: no runner, no entry.
  const plain = await composeImage(
    path.join(dir, 'plain.vhdx'),
    '--os',
    os1,
    '--size-gib',
    '1',
    '--firmware',
    'bios',
    '--format',
    'vhdx',
  );
  const plainVolume = windowsVolume(plain, 'plain-image');
  expect(ntfsList(plainVolume, '/ProgramData')).not.toContain('Lamina');
  expect(() =>
    hiveExport(plainVolume, 'SYSTEM', '\\ControlSet001\\Services\\LaminaFirstStart', dir),
  ).toThrow();
}, 240_000);

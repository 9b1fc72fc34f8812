import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  cutPartition,
  lamina,
  ntfsCat,
  ntfsfixClean,
  ntfsList,
  partitionTable,
  removeDir,
  run,
  scratchDir,
  toRaw,
} from './tools';

/** Layer disks: import-os from any format and layout, build from a zip, inspect. */

let dir: string;
let os: string;

beforeAll(async () => {
  dir = scratchDir('layer');
  const gold = path.join(dir, 'gold.vmdk');
  const made = await lamina(
    'dev',
    'gold-image',
    '--out',
    gold,
    '--firmware',
    'uefi',
    '--size-gib',
    '0.5',
    '--format',
    'vmdk',
  );
  expect(made.code).toBe(0);
  os = path.join(dir, 'os.vhdx');
  expect(
    (await lamina('layer', 'import-os', gold, '--name', 'Win11', '--version', '23H2', '--out', os)).code,
  ).toBe(0);
}, 300_000);

afterAll(() => removeDir(dir));

/** The layer disk's NTFS partition, cut out with dd after qemu-img made it raw. */
function layerVolume(layer: string): string {
  const raw = toRaw(layer, `${layer}.raw`);
  const table = partitionTable(raw);
  expect(table.label).toBe('dos');
  expect(table.partitions).toHaveLength(1);
  expect(table.partitions[0]).toMatchObject({ start: 2048, type: '7' });
  return cutPartition(raw, 0, `${layer}.ntfs`);
}

it('imports the Windows partition of a GPT VMDK gold image as a dynamic VHDX OS layer', () => {
  const info = JSON.parse(run('qemu-img', ['info', '--output=json', os])) as {
    format: string;
    'virtual-size': number;
  };
  expect(info.format).toBe('vhdx');
  const volume = layerVolume(os);
  expect(ntfsfixClean(volume)).toBe(true);
  expect(ntfsCat(volume, '/Windows/System32/config/SOFTWARE').slice(0, 4)).toBe('regf');
  const metadata = JSON.parse(ntfsCat(volume, '/.lamina/layer.json')) as Record<string, unknown>;
  expect(metadata).toMatchObject({
    schema: 1,
    name: 'Win11',
    version: '23H2',
    type: 'os',
    creationSequence: 0,
  });
});

it('builds an app layer from a zip with registry changes, deletions and scripts', async () => {
  const source = path.join(dir, 'zip-src');
  mkdirSync(path.join(source, 'Program Files', 'Zipped'), { recursive: true });
  writeFileSync(path.join(source, 'Program Files', 'Zipped', 'zipped.exe'), 'MZ zipped');
  writeFileSync(path.join(source, 'Program Files', 'Zipped', 'notes with spaces.txt'), 'hello');
  const zip = path.join(dir, 'app.zip');
  run('sh', ['-c', `cd '${source}' && zip -qr '${zip}' .`]);
  const reg = path.join(dir, 'app.reg');
  writeFileSync(
    reg,
    'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Zipped]\r\n"Version"="1.0"\r\n"Build"=dword:00000007\r\n\r\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Old]\r\n',
  );
  const deletions = path.join(dir, 'app.deletions');
  writeFileSync(deletions, '# removed by the app\n\\Windows\\win.ini\n');
  const scripts = path.join(dir, 'scripts');
  mkdirSync(scripts);
  writeFileSync(path.join(scripts, 'first-boot.cmd'), 'echo configured\r\n');
  const layer = path.join(dir, 'zipped.vhdx');
  const built = await lamina(
    'layer',
    'build',
    '--type',
    'app',
    '--name',
    'Zipped',
    '--os',
    os,
    '--from',
    zip,
    '--reg',
    reg,
    '--deletions',
    deletions,
    '--scripts',
    scripts,
    '--out',
    layer,
  );
  expect(built.stderr).toBe('');

  const volume = layerVolume(layer);
  expect(ntfsfixClean(volume)).toBe(true);
  expect(ntfsCat(volume, '/Program Files/Zipped/zipped.exe')).toBe('MZ zipped');
  expect(ntfsList(volume, '/Program Files/Zipped')).toEqual(
    expect.arrayContaining(['notes with spaces.txt']),
  );
  expect(JSON.parse(ntfsCat(volume, '/.lamina/deletions.json'))).toEqual(['\\Windows\\win.ini']);
  expect(ntfsCat(volume, '/.lamina/registry.reg')).toContain('"Build"=dword:00000007');
  expect(ntfsCat(volume, '/.lamina/scripts/first-boot.cmd')).toContain('echo configured');

  const inspected = await lamina('layer', 'inspect', layer, '--json');
  expect(JSON.parse(inspected.stdout)).toMatchObject({
    metadata: { name: 'Zipped', type: 'app', os: { name: 'Win11' } },
    files: 2,
    bytes: 14,
    deletions: ['\\Windows\\win.ini'],
    registryOperations: { createKey: 1, setValue: 2, deleteKey: 1, deleteValue: 0 },
  });
  const text = await lamina('layer', 'inspect', layer);
  expect(text.stdout).toMatch(/Zipped 1 \(app layer\)/);
  expect(text.stdout).toMatch(/files:\s+2 in \d+ folders, 14 bytes/);
});

it('imports an MBR raw gold image too', async () => {
  const gold = path.join(dir, 'bios.raw');
  expect(
    (await lamina('dev', 'gold-image', '--out', gold, '--firmware', 'bios', '--size-gib', '0.25')).code,
  ).toBe(0);
  const layer = path.join(dir, 'bios-os.vhdx');
  expect((await lamina('layer', 'import-os', gold, '--name', 'Server', '--out', layer)).code).toBe(0);
  expect(ntfsCat(layerVolume(layer), '/Windows/System32/drivers/etc/hosts')).toContain('localhost');
});

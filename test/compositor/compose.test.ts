import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import * as path from 'node:path';
import { makeFixture, type Fixture } from './fixtures';
import {
  cutPartition,
  hiveExport,
  lamina,
  mdir,
  ntfsCat,
  ntfsfixClean,
  ntfsFileInfo,
  ntfsList,
  ntfsSecurity,
  partitionTable,
  removeDir,
  run,
  runStatus,
  scratchDir,
  sha256,
  toRaw,
} from './tools';

/**
 * Composes the shared layers and checks the result with qemu-img, sfdisk/sgdisk, dd, ntfs-3g's
 * tools, hivexregedit and mtools.
 */

let fixture: Fixture;
let dir: string;

beforeAll(async () => {
  dir = scratchDir('compose');
  fixture = await makeFixture(dir);
}, 300_000);

afterAll(() => removeDir(dir));

interface Composed {
  image: string;
  raw: string;
  windows: string;
  report: Record<string, unknown> & { conflicts: { files: unknown[]; registry: unknown[] } };
  stdout: string;
}

async function composeAll(firmware: 'bios' | 'uefi', format: string, name: string): Promise<Composed> {
  const image = path.join(dir, `${name}.image.${format}`);
  const reportFile = path.join(dir, `${name}.report.json`);
  // Arguments deliberately in the "wrong" order: priority must come from the metadata.
  const result = await lamina(
    'compose',
    '--os',
    fixture.os,
    '--platform',
    fixture.platform,
    '--app',
    fixture.appNew,
    '--app',
    fixture.fidelity,
    '--app',
    fixture.appOld,
    '--size-gib',
    '1',
    '--firmware',
    firmware,
    '--format',
    format,
    '--out',
    image,
    '--report',
    reportFile,
  );
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const raw = toRaw(image, path.join(dir, `${name}.converted.raw`));
  const windowsIndex = firmware === 'bios' ? 0 : 2;
  return {
    image,
    raw,
    windows: cutPartition(raw, windowsIndex, path.join(dir, `${name}.windows.ntfs`)),
    report: JSON.parse(readFileSync(reportFile, 'utf8')) as Composed['report'],
    stdout: result.stdout,
  };
}

describe('compose for BIOS, raw', () => {
  let composed: Composed;
  beforeAll(async () => {
    composed = await composeAll('bios', 'raw', 'bios');
  }, 300_000);

  it('lays out an MBR disk with one active NTFS partition at 1 MiB', () => {
    const table = partitionTable(composed.raw);
    expect(table.label).toBe('dos');
    expect(table.partitions).toHaveLength(1);
    expect(table.partitions[0]).toMatchObject({ start: 2048, type: '7', bootable: true });
    expect(ntfsfixClean(composed.windows)).toBe(true);
  });

  it('grows the cloned OS volume to fill its partition', () => {
    const info = run('ntfsinfo', ['-m', composed.windows]);
    const clusters = Number(/Volume Size in Clusters: (\d+)/.exec(info)?.[1]);
    const partitionBytes = partitionTable(composed.raw).partitions[0].size * 512;
    expect(clusters * 4096).toBeGreaterThan(partitionBytes - 8192);
    expect(ntfsCat(composed.windows, '/Windows/System32/notepad.exe')).toContain('synthetic notepad');
    expect(ntfsList(composed.windows, '/')).not.toContain('.lamina');
  });

  it('lets the newer app layer win over the older one, and the platform over both', () => {
    expect(ntfsCat(composed.windows, '/Program Files/Shared/tool.dll')).toBe('from Platform');
    expect(ntfsCat(composed.windows, '/Program Files/Shared/apps.cfg')).toBe('from AppNew');
    expect(ntfsCat(composed.windows, '/Program Files/Old/old.exe')).toBe('old app');
    expect(ntfsCat(composed.windows, '/Program Files/New/new.exe')).toBe('new app');
    const software = hiveExport(composed.windows, 'SOFTWARE', '\\Lamina\\Test', dir);
    expect(software).toContain('"Owner"=str(1):"Platform"');
    expect(software).toContain('"AppsOnly"=str(1):"AppNew"');
    expect(software).toContain('"OldOnly"=dword:00000001');
    // Both deletion forms of a higher layer: a value, and a whole key.
    expect(software).not.toContain('Dropped');
    expect(hiveExport(composed.windows, 'SOFTWARE', '\\Lamina', dir)).not.toContain('Doomed');
    expect(hiveExport(composed.windows, 'DEFAULT', '\\Control Panel\\Desktop', dir)).toContain(
      '"WallPaper"=str(1):"lamina.bmp"',
    );
  });

  it('matches paths without regard to case, as Windows does', () => {
    expect(ntfsList(composed.windows, '/').filter((name) => name.toLowerCase() === 'windows')).toEqual([
      'Windows',
    ]);
    expect(ntfsList(composed.windows, '/Windows/System32/drivers/etc')).toEqual(['HOSTS']);
    expect(ntfsCat(composed.windows, '/Windows/System32/drivers/etc/HOSTS')).toBe('layer hosts');
  });

  it('removes what a layer deletes from lower layers', () => {
    expect(ntfsList(composed.windows, '/Windows')).not.toContain('win.ini');
    expect(ntfsList(composed.windows, '/Program Files')).not.toContain('Common Files');
    expect(ntfsList(composed.windows, '/Windows')).toContain('System32');
  });

  it('merges the system Path instead of replacing it', () => {
    const environment = hiveExport(
      composed.windows,
      'SYSTEM',
      '\\ControlSet001\\Control\\Session Manager\\Environment',
      dir,
    );
    const pathValue = /"Path"=str\(2\):"([^"]*)"/.exec(environment)?.[1];
    expect(pathValue).toBe('%SystemRoot%\\system32;%SystemRoot%;C:\\Old;C:\\New');
  });

  it('keeps security descriptors, attributes, times, alternate streams and junctions of layer files', () => {
    const secret = '/Program Files/Fidelity/secret.txt';
    expect(ntfsCat(composed.windows, secret)).toBe('top secret');
    expect(ntfsCat(composed.windows, secret, 'Zone.Identifier')).toContain('ZoneId=3');
    const security = ntfsSecurity(composed.windows, secret);
    expect(security).toContain('Windows owner S-1-5-32-544');
    expect(security).toContain('Windows group S-1-5-18');
    const info = ntfsFileInfo(composed.windows, secret);
    expect(info).toMatch(/File attributes:\s+HIDDEN ARCHIVE/);
    expect(info).toMatch(/File Creation Time:\s+Thu Jun 15 12:00:00 2023/);
    expect(ntfsFileInfo(composed.windows, '/Program Files/Fidelity/WinLink')).toMatch(
      /Reparse Tag:\s+0xa0000003/i,
    );
    // The OS layer's own ACL'd file with its stream, cloned.
    const welcome = '/Users/Public/Documents/welcome.txt';
    expect(ntfsCat(composed.windows, welcome, 'Zone.Identifier')).toContain('ZoneId=3');
    expect(ntfsSecurity(composed.windows, welcome)).toContain('Windows owner S-1-5-32-544');
  });

  it('reports every file and registry value more than one layer provides, with winner and losers', () => {
    expect(composed.report.conflicts.files).toEqual(
      expect.arrayContaining([
        { path: '\\Program Files\\Shared\\apps.cfg', winner: 'AppNew', losers: ['AppOld'] },
        { path: '\\Program Files\\Shared\\tool.dll', winner: 'Platform', losers: ['AppOld', 'AppNew'] },
      ]),
    );
    expect(composed.report.conflicts.registry).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          key: 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\Test',
          valueName: 'Owner',
          winner: 'Platform',
          losers: ['AppOld', 'AppNew'],
        }),
        expect.objectContaining({ valueName: 'Path', winner: 'AppNew', losers: ['AppOld'], merged: true }),
      ]),
    );
    expect(composed.report).toMatchObject({
      layers: [
        { name: 'Win10' },
        { name: 'AppOld' },
        { name: 'Fidelity' },
        { name: 'AppNew' },
        { name: 'Platform' },
      ],
      totals: { fileConflicts: 2, deletions: 2 },
    });
    expect((composed.report.timings as unknown[]).length).toBeGreaterThan(5);
  });

  it('prints progress as JSON lines', () => {
    const lines = composed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { phase: string; done: number; total: number });
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines)
      expect(line).toEqual({
        phase: expect.any(String),
        done: expect.any(Number),
        total: expect.any(Number),
      });
    // raw is converted from a work image that shows the OS volume through (no clone phase).
    expect(lines.map((l) => l.phase)).toEqual(expect.arrayContaining(['overlay AppNew', 'write']));
    expect(lines.map((l) => l.phase)).not.toContain('clone');
  });
});

describe('compose for UEFI, vhdx', () => {
  let composed: Composed;
  beforeAll(async () => {
    composed = await composeAll('uefi', 'vhdx', 'uefi');
  }, 300_000);

  it('is a valid VHDX with a GPT: ESP, MSR and the Windows partition', () => {
    expect(runStatus('qemu-img', ['check', composed.image]).status).toBe(0);
    expect(run('sgdisk', ['-v', composed.raw])).toContain('No problems found');
    const table = partitionTable(composed.raw);
    expect(table.label).toBe('gpt');
    expect(table.partitions.map((p) => [p.type, p.size * 512])).toEqual([
      ['C12A7328-F81F-11D2-BA4B-00A0C93EC93B', 260 * 2 ** 20],
      ['E3C9E316-0B5C-4DB8-817D-F92DF00215AE', 16 * 2 ** 20],
      ['EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', expect.any(Number)],
    ]);
    expect(ntfsfixClean(composed.windows)).toBe(true);
    // Written in place (the volume grown through a copy of its metadata): ntfsresize's own
    // consistency check accounts every cluster against $Bitmap and fills the partition.
    const check = runStatus('ntfsresize', ['--info', '--force', '--no-progress-bar', composed.windows]);
    expect(check.output).not.toMatch(/error|inconsisten|corrupt/i);
    expect(check.status).toBe(0);
    expect(check.output).toMatch(/Current volume size: \d+ bytes/);
    const volumeBytes = Number(/Current volume size: (\d+) bytes/.exec(check.output)?.[1]);
    expect(volumeBytes).toBeGreaterThan(table.partitions[2].size * 512 - 4096);
    expect(ntfsCat(composed.windows, '/Program Files/Shared/tool.dll')).toBe('from Platform');
    // The cloned volume's boot sector knows where its partition now starts (hidden sectors).
    const boot = Buffer.alloc(512);
    const fd = openSync(composed.windows, 'r');
    readSync(fd, boot, 0, 512, 0);
    closeSync(fd);
    expect(boot.readUInt32LE(0x1c)).toBe(table.partitions[2].start);
  });

  it('puts the OS layer boot files on the FAT32 ESP', () => {
    const esp = cutPartition(composed.raw, 0, path.join(dir, 'uefi.esp'));
    expect(run('file', ['-b', esp])).toMatch(/FAT \(32 bit\)/);
    expect(mdir(esp, '/EFI/Microsoft/Boot')).toMatch(/bootmgfw\.efi/i);
    expect(mdir(esp, '/EFI/Boot')).toMatch(/bootx64\.efi/i);
    expect(run('mtype', ['-i', esp, '::/EFI/Boot/bootx64.efi'])).toContain('synthetic Windows Boot Manager');
  });

  it('is byte-identical when composed again from the same inputs', async () => {
    const again = await composeAll('uefi', 'vhdx', 'uefi-again');
    expect(sha256(again.image)).toBe(sha256(composed.image));
  });
});

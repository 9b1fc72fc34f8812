import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import {
  applyRegistryChanges,
  createEmptyHive,
  emptyHiveBytes,
  HIVE_NAMES,
  parseRegText,
  splitOperationsByHive,
  type HiveName,
} from '../registry';
import { HIVE_FILES } from './registry-merge';
import { writeDisk, type OutputFormat } from './disk-image';
import type { DiskFirmware } from '../domain/firmware';
import { planDisk, windowsPartition } from './disk-layout';
import { makeEsp, type BootFile } from './esp';
import type { ProgressListener } from './native';
import {
  DEFAULT_DESCRIPTOR,
  encodeSecurityDescriptor,
  WellKnownSid,
  type SecurityDescriptor,
} from './security-descriptor';
import { applyToVolume, finalizeVolume, formatVolume } from './volume';
import { FileAttribute, type VolumeOperation } from './volume-operations';
import { withWorkDir } from './work-dir';

/**
 * A synthetic "gold image" for demos and tests (Windows itself cannot be shipped): a VM disk
 * whose Windows partition looks like a Windows volume to Lamina — registry hives in
 * \Windows\System32\config, boot files in \Windows\Boot\EFI, Program Files, a default user,
 * files with ACLs, attributes and alternate data streams.
 */

/** Fixed so that the gold image is reproducible. */
const GOLD_TIME = new Date('2024-01-01T00:00:00Z');
const GOLD_EPOCH = GOLD_TIME.getTime() / 1000;
const TIMES = { created: GOLD_TIME, written: GOLD_TIME, accessed: GOLD_TIME };

const TRUSTED_INSTALLER_OWNED: SecurityDescriptor = {
  owner: WellKnownSid.trustedInstaller,
  group: WellKnownSid.trustedInstaller,
  dacl: [
    { type: 'allow', sid: WellKnownSid.trustedInstaller, mask: 0x1f01ff, inherit: true },
    { type: 'allow', sid: WellKnownSid.system, mask: 0x1301bf, inherit: true },
    { type: 'allow', sid: WellKnownSid.administrators, mask: 0x1301bf, inherit: true },
    { type: 'allow', sid: WellKnownSid.users, mask: 0x1200a9, inherit: true },
  ],
};

/** Only administrators: the file whose ACL tests check survives compositing. */
export const ADMINS_ONLY: SecurityDescriptor = {
  owner: WellKnownSid.administrators,
  group: WellKnownSid.system,
  dacl: [{ type: 'allow', sid: WellKnownSid.administrators, mask: 0x1f01ff }],
};

export const GOLD_BOOT_FILES: BootFile[] = [
  { relativePath: 'bootmgfw.efi', data: Buffer.from('synthetic Windows Boot Manager (UEFI)\n') },
  { relativePath: 'bootmgr.efi', data: Buffer.from('synthetic boot manager\n') },
  { relativePath: 'en-US/bootmgfw.efi.mui', data: Buffer.from('synthetic language resources\n') },
];

/** What the gold image's hives hold: enough for CurrentControlSet and the system Path to mean something. */
export const GOLD_REGISTRY = `Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\\SYSTEM\\Select]
"Current"=dword:00000001
"Default"=dword:00000001

[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\Session Manager\\Environment]
"OS"="Windows_NT"
"Path"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,25,00,5c,00,73,00,79,00,73,00,74,00,65,00,6d,00,33,00,32,00,3b,00,25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,25,00,00,00
"PATHEXT"=".COM;.EXE;.BAT;.CMD"

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]
"ProductName"="Lamina Synthetic Windows"
"CurrentBuild"="19045"

[HKEY_USERS\\.DEFAULT\\Control Panel\\Desktop]
"WallPaper"=""
`;

const HIVE_ROOT_NAMES: Record<HiveName, string> = {
  SYSTEM: 'SYSTEM',
  SOFTWARE: 'SOFTWARE',
  DEFAULT: '.DEFAULT',
};

/** The three hives, as files in `dir`: empty hives (registry/) with GOLD_REGISTRY applied. */
async function goldHives(dir: string): Promise<Record<HiveName, Buffer>> {
  const operations = splitOperationsByHive(parseRegText(GOLD_REGISTRY, 'gold-image.reg').operations);
  const hives = {} as Record<HiveName, Buffer>;
  for (const hive of HIVE_NAMES) {
    const file = path.join(dir, hive);
    await createEmptyHive(file, HIVE_ROOT_NAMES[hive], { lastWritten: GOLD_TIME });
    await applyRegistryChanges(file, operations[hive], { hive });
    hives[hive] = await fs.readFile(file);
  }
  return hives;
}

function text(content: string): Buffer {
  return Buffer.from(content.replace(/\n/g, '\r\n'));
}

function* file(
  filePath: string,
  content: Buffer,
  descriptor: SecurityDescriptor = DEFAULT_DESCRIPTOR,
): Generator<VolumeOperation> {
  yield { op: 'file', path: filePath, content };
  yield { op: 'security', path: filePath, descriptor: encodeSecurityDescriptor(descriptor) };
  yield { op: 'attributes', path: filePath, attributes: FileAttribute.archive };
  yield { op: 'times', path: filePath, times: TIMES };
}

function* directory(
  dirPath: string,
  descriptor: SecurityDescriptor = DEFAULT_DESCRIPTOR,
): Generator<VolumeOperation> {
  yield { op: 'dir', path: dirPath };
  yield { op: 'security', path: dirPath, descriptor: encodeSecurityDescriptor(descriptor) };
}

/** The Windows volume's content, as operations for the NTFS core. */
export function* goldTree(hives: Record<HiveName, Buffer>): Generator<VolumeOperation> {
  const directories = [
    '\\Windows',
    '\\Windows\\System32',
    '\\Windows\\System32\\config',
    '\\Windows\\System32\\drivers\\etc',
    '\\Windows\\Boot\\EFI\\en-US',
    '\\Program Files',
    '\\Program Files\\Common Files',
    '\\Program Files (x86)',
    '\\ProgramData',
    '\\Users\\Default',
    '\\Users\\Public\\Documents',
  ];
  for (const dir of directories)
    yield* directory(dir, dir.startsWith('\\Windows') ? TRUSTED_INSTALLER_OWNED : DEFAULT_DESCRIPTOR);

  for (const hive of HIVE_NAMES) yield* file(HIVE_FILES[hive], hives[hive], TRUSTED_INSTALLER_OWNED);
  yield* file('\\Users\\Default\\NTUSER.DAT', emptyHiveBytes('NTUSER', { lastWritten: GOLD_TIME }));
  yield {
    op: 'attributes',
    path: '\\Users\\Default\\NTUSER.DAT',
    attributes: FileAttribute.hidden | FileAttribute.archive,
  };

  for (const boot of GOLD_BOOT_FILES) {
    yield* file(
      `\\Windows\\Boot\\EFI\\${boot.relativePath.replace(/\//g, '\\')}`,
      boot.data,
      TRUSTED_INSTALLER_OWNED,
    );
  }
  yield* file('\\Windows\\System32\\notepad.exe', text('MZ synthetic notepad\n'), TRUSTED_INSTALLER_OWNED);
  yield* file(
    '\\Windows\\System32\\drivers\\etc\\hosts',
    text('127.0.0.1 localhost\n'),
    TRUSTED_INSTALLER_OWNED,
  );
  yield* file('\\Windows\\win.ini', text('; for 16-bit app support\n[fonts]\n'), TRUSTED_INSTALLER_OWNED);
  yield* file('\\Program Files\\Common Files\\shared.txt', text('shared component v1\n'));

  // A downloaded file: restrictive ACL plus the Zone.Identifier stream browsers attach.
  const welcome = '\\Users\\Public\\Documents\\welcome.txt';
  yield* file(welcome, text('Welcome to the Lamina gold image.\n'), ADMINS_ONLY);
  yield { op: 'stream', path: welcome, name: 'Zone.Identifier', content: text('[ZoneTransfer]\nZoneId=3\n') };
  yield { op: 'attributes', path: welcome, attributes: FileAttribute.readOnly | FileAttribute.archive };
  yield { op: 'times', path: welcome, times: TIMES };

  yield* file('\\bootmgr', text('synthetic BIOS boot manager\n'));
  yield {
    op: 'attributes',
    path: '\\bootmgr',
    attributes: FileAttribute.readOnly | FileAttribute.hidden | FileAttribute.system | FileAttribute.archive,
  };
  yield { op: 'times', path: '\\bootmgr', times: TIMES };

  for (const dir of [...directories].reverse()) yield { op: 'times', path: dir, times: TIMES };
}

export interface GoldImageOptions {
  out: string;
  firmware: DiskFirmware;
  size: number;
  format: OutputFormat;
  onProgress?: ProgressListener;
}

export async function makeGoldImage(options: GoldImageOptions): Promise<void> {
  const seed = `lamina-gold:${options.firmware}:${options.size}`;
  await withWorkDir(options.out, async (work) => {
    const layout = planDisk(options.firmware, options.size, seed);
    const windows = windowsPartition(layout);
    const partition = path.join(work, 'windows.ntfs');
    await formatVolume(partition, windows.size, { label: 'Windows', startSector: windows.offset / 512 });
    await applyToVolume(partition, goldTree(await goldHives(work)), {
      epoch: GOLD_EPOCH,
      onProgress: options.onProgress,
    });
    await finalizeVolume(partition, createHash('sha256').update(`${seed}:serial`).digest(), windows.offset);
    const esp = layout.partitions.find((p) => p.role === 'esp');
    const espFile = path.join(work, 'esp.fat');
    if (esp) await makeEsp(espFile, esp.size, GOLD_BOOT_FILES, { epoch: GOLD_EPOCH, seed });
    await writeDisk(
      layout,
      { windows: partition, ...(esp ? { esp: espFile } : {}) },
      options.format,
      options.out,
      { onProgress: options.onProgress, identity: seed },
    );
  });
}

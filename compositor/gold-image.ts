import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { emptyHiveBytes } from '../registry/empty-hive';
import { writeDisk, type OutputFormat } from './disk-image';
import { planDisk, windowsPartition, type Firmware } from './disk-layout';
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
import { withDerivedIdentity } from './reproducible';
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

export const GOLD_HIVES = { SYSTEM: 'SYSTEM', SOFTWARE: 'SOFTWARE', DEFAULT: '.DEFAULT' } as const;

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
export function* goldTree(): Generator<VolumeOperation> {
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

  for (const [fileName, rootName] of Object.entries(GOLD_HIVES)) {
    yield* file(
      `\\Windows\\System32\\config\\${fileName}`,
      emptyHiveBytes(rootName, { lastWritten: GOLD_TIME }),
      TRUSTED_INSTALLER_OWNED,
    );
  }
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
  firmware: Firmware;
  size: number;
  format: OutputFormat;
  onProgress?: ProgressListener;
}

export async function makeGoldImage(options: GoldImageOptions): Promise<void> {
  const seed = `lamina-gold:${options.firmware}:${options.size}`;
  await withDerivedIdentity(seed, GOLD_TIME.getTime(), () =>
    withWorkDir(options.out, async (work) => {
      const layout = planDisk(options.firmware, options.size);
      const windows = windowsPartition(layout);
      const partition = path.join(work, 'windows.ntfs');
      await formatVolume(partition, windows.size, { label: 'Windows', startSector: windows.offset / 512 });
      await applyToVolume(partition, goldTree(), { epoch: GOLD_EPOCH, onProgress: options.onProgress });
      await finalizeVolume(partition, createHash('sha256').update(`${seed}:serial`).digest());
      const esp = layout.partitions.find((p) => p.role === 'esp');
      const espFile = path.join(work, 'esp.fat');
      if (esp) await makeEsp(espFile, esp.size, GOLD_BOOT_FILES, { epoch: GOLD_EPOCH, seed });
      await writeDisk(
        layout,
        { windows: partition, ...(esp ? { esp: espFile } : {}) },
        options.format,
        options.out,
        options.onProgress,
      );
    }),
  );
}

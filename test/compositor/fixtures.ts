import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createLayerDisk } from '../../compositor/layer-disk';
import { encodeSecurityDescriptor } from '../../compositor/security-descriptor';
import { ADMINS_ONLY } from '../../compositor/gold-image';
import { FileAttribute } from '../../compositor/volume-operations';
import { applyToVolume } from '../../compositor/volume';
import { MiB } from '../../compositor/disk-layout';
import { inspectLayer } from '../../compositor/inspect';
import { lamina } from './tools';

/**
 * The layers the compositor tests share: a synthetic gold image imported as OS layer, two app
 * layers and a platform layer that fight over the same file and registry value, and a layer with
 * ACLs, alternate streams and a junction (which a folder cannot express).
 */

export interface Fixture {
  dir: string;
  os: string;
  appOld: string;
  appNew: string;
  platform: string;
  fidelity: string;
}

const REG_HEADER = 'Windows Registry Editor Version 5.00\r\n\r\n';

function reg(body: string): string {
  return REG_HEADER + body.replace(/\n/g, '\r\n');
}

async function expectOk(promise: ReturnType<typeof lamina>): Promise<void> {
  const result = await promise;
  if (result.code !== 0 || result.stderr !== '') {
    throw new Error(`lamina failed (${result.code}): ${result.stderr}`);
  }
}

/** The smallest useful pair: a BIOS gold image's OS layer and one app layer built from `appSource`. */
export async function makeOsAndAppLayer(
  dir: string,
  appSource: string,
): Promise<{ os: string; app: string }> {
  const gold = path.join(dir, 'gold.raw');
  await expectOk(lamina('dev', 'gold-image', '--out', gold, '--firmware', 'bios', '--size-gib', '0.25'));
  const os = path.join(dir, 'os.vhdx');
  await expectOk(lamina('layer', 'import-os', gold, '--name', 'Win', '--out', os));
  const app = path.join(dir, 'app.vhdx');
  await expectOk(
    lamina('layer', 'build', '--type', 'app', '--name', 'App', '--os', os, '--from', appSource, '--out', app),
  );
  return { os, app };
}

function writeTree(root: string, files: Record<string, string>): string {
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  return root;
}

/** A junction: reparse tag IO_REPARSE_TAG_MOUNT_POINT pointing at C:\Windows. */
export function junctionReparseData(target: string): Buffer {
  const substitute = Buffer.from(`\\??\\${target}`, 'utf16le');
  const print = Buffer.from(target, 'utf16le');
  const body = Buffer.alloc(8 + substitute.length + 2 + print.length + 2);
  body.writeUInt16LE(0, 0);
  body.writeUInt16LE(substitute.length, 2);
  body.writeUInt16LE(substitute.length + 2, 4);
  body.writeUInt16LE(print.length, 6);
  substitute.copy(body, 8);
  print.copy(body, 8 + substitute.length + 2);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(0xa0000003, 0);
  header.writeUInt16LE(body.length, 4);
  return Buffer.concat([header, body]);
}

export async function makeFixture(dir: string, firmware: 'bios' | 'uefi' = 'uefi'): Promise<Fixture> {
  const gold = path.join(dir, 'gold.vhdx');
  await expectOk(
    lamina(
      'dev',
      'gold-image',
      '--out',
      gold,
      '--firmware',
      firmware,
      '--size-gib',
      '0.5',
      '--format',
      'vhdx',
    ),
  );
  const os = path.join(dir, 'os.vhdx');
  await expectOk(lamina('layer', 'import-os', gold, '--name', 'Win10', '--out', os));

  const build = async (
    name: string,
    type: string,
    sequence: number,
    files: Record<string, string>,
    regText?: string,
    deletions?: string[],
  ) => {
    const out = path.join(dir, `${name}.vhdx`);
    const args = [
      'layer',
      'build',
      '--type',
      type,
      '--name',
      name,
      '--os',
      os,
      '--sequence',
      String(sequence),
      '--out',
      out,
    ];
    args.push('--from', writeTree(path.join(dir, `${name}-src`), files));
    if (regText) {
      writeFileSync(path.join(dir, `${name}.reg`), reg(regText));
      args.push('--reg', path.join(dir, `${name}.reg`));
    }
    if (deletions) {
      writeFileSync(path.join(dir, `${name}.deletions`), deletions.join('\n') + '\n');
      args.push('--deletions', path.join(dir, `${name}.deletions`));
    }
    await expectOk(lamina(...args));
    return out;
  };
  const env = '[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment]\n';
  const appOld = await build(
    'AppOld',
    'app',
    100,
    {
      'Program Files/Shared/tool.dll': 'from AppOld',
      'Program Files/Shared/apps.cfg': 'from AppOld',
      'Program Files/Old/old.exe': 'old app',
      // Spelled unlike the OS's \Windows\System32\drivers\etc\hosts: still the same file.
      'WINDOWS/system32/DRIVERS/etc/HOSTS': 'layer hosts',
    },
    `[HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\Test]\n"Owner"="AppOld"\n"AppsOnly"="AppOld"\n"OldOnly"=dword:00000001\n"Dropped"="by AppNew"\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\Doomed]\n"x"="y"\n\n${env}"Path"="C:\\\\Old"\n`,
  );
  const appNew = await build(
    'AppNew',
    'app',
    200,
    {
      'Program Files/Shared/tool.dll': 'from AppNew',
      'Program Files/Shared/apps.cfg': 'from AppNew',
      'Program Files/New/new.exe': 'new app',
    },
    `[HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\Test]\n"Owner"="AppNew"\n"AppsOnly"="AppNew"\n"Dropped"=-\n\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\Doomed]\n\n${env}"Path"="C:\\\\New"\n`,
    ['\\Windows\\win.ini', '\\Program Files\\Common Files'],
  );
  const platform = await build(
    'Platform',
    'platform',
    50,
    { 'Program Files/Shared/tool.dll': 'from Platform', 'Program Files/Citrix/vda.exe': 'agent' },
    '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\Test]\n"Owner"="Platform"\n\n[HKEY_USERS\\.DEFAULT\\Control Panel\\Desktop]\n"WallPaper"="lamina.bmp"\n',
  );

  const fidelity = path.join(dir, 'Fidelity.vhdx');
  const when = new Date('2023-06-15T12:00:00Z');
  const secret = '\\Program Files\\Fidelity\\secret.txt';
  const osMetadata = (await inspectLayer(os)).metadata;
  const work = mkdtempSync(path.join(dir, 'fidelity-'));
  await createLayerDisk(fidelity, work, 64 * MiB, {
    async write(partition, hash) {
      await applyToVolume(
        partition,
        [
          { op: 'file', path: secret, content: Buffer.from('top secret') },
          {
            op: 'stream',
            path: secret,
            name: 'Zone.Identifier',
            content: Buffer.from('[ZoneTransfer]\r\nZoneId=3\r\n'),
          },
          { op: 'security', path: secret, descriptor: encodeSecurityDescriptor(ADMINS_ONLY) },
          { op: 'attributes', path: secret, attributes: FileAttribute.hidden | FileAttribute.archive },
          { op: 'times', path: secret, times: { created: when, written: when, accessed: when } },
          { op: 'dir', path: '\\Program Files\\Fidelity\\WinLink' },
          {
            op: 'reparse',
            path: '\\Program Files\\Fidelity\\WinLink',
            data: junctionReparseData('C:\\Windows'),
          },
        ],
        { hash },
      );
    },
    metadata: (contentHash) => ({
      schema: 1,
      id: 'fidelity-layer',
      name: 'Fidelity',
      type: 'app',
      version: '1',
      os: { id: osMetadata.id, name: osMetadata.name },
      creationSequence: 150,
      createdAt: '2025-01-01T00:00:00.000Z',
      contentHash,
    }),
  });
  rmSync(work, { recursive: true });
  return { dir, os, appOld, appNew, platform, fidelity };
}

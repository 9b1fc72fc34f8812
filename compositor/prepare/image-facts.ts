import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readCurrentControlSet } from '../../registry';
import { HiveFile } from '../../registry/hive';
import { openWindowsPartition } from '../disk-image';
import { checkHive } from '../import-os';
import { listVolume } from '../volume';
import { withWorkDir } from '../work-dir';

/** What prepare needs to know about an image before deciding what to change in it. */
export interface ImageFacts {
  /** Service and driver keys of the current control set. */
  services: string[];
  /** Network interfaces (Tcpip\Parameters\Interfaces subkeys). */
  interfaces: string[];
  /** Folders and files at the volume's top two levels of \Program Files, `/`-separated. */
  programFiles: string[];
  /** Keys under HKLM\SOFTWARE\Citrix\VirtualDesktopAgent (a Citrix VDA is installed). */
  vdaKeys: string[];
}

/**
 * Reads the facts from the image's Windows volume, in place: the SYSTEM and SOFTWARE hives are copied
 * out and read with hivex, \Program Files is listed. A disk without an NTFS Windows volume or hives fails
 * here, naming what is missing, before anything is written.
 */
export async function readImageFacts(disk: string): Promise<ImageFacts> {
  const volume = await openWindowsPartition(disk);
  try {
    return await withWorkDir(disk, async (work) => {
      const system = path.join(work, 'SYSTEM');
      const software = path.join(work, 'SOFTWARE');
      await fs.writeFile(system, await checkHive(volume, 'SYSTEM', disk));
      await fs.writeFile(software, await checkHive(volume, 'SOFTWARE', disk));
      const controlSet = `ControlSet${String(readCurrentControlSet(system)).padStart(3, '0')}`;
      const programFiles = (await listVolume(volume, '/Program Files'))
        .map((entry) => entry.path)
        .filter((p) => p.split('/').length <= 4);
      return {
        services: subkeysOf(system, [controlSet, 'Services']),
        interfaces: subkeysOf(system, [controlSet, 'Services', 'Tcpip', 'Parameters', 'Interfaces']),
        programFiles,
        vdaKeys: subkeysOf(software, ['Citrix', 'VirtualDesktopAgent']),
      };
    });
  } finally {
    await volume.close();
  }
}

function subkeysOf(hivePath: string, keyPath: string[]): string[] {
  const hive = HiveFile.open(hivePath, { writable: false });
  try {
    const key = hive.findKey(keyPath);
    return key === undefined ? [] : hive.subkeys(key).map((k) => hive.keyName(k));
  } finally {
    hive.close();
  }
}

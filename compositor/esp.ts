import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

/**
 * The EFI system partition of a UEFI disk: FAT32 made by mkfs.fat, filled with mtools (no
 * mounting). Windows' boot files go to \EFI\Microsoft\Boot and the boot manager also to the
 * fallback path \EFI\Boot\bootx64.efi, as Windows setup does.
 */

const run = promisify(execFile);

export interface BootFile {
  /** Path below `\Windows\Boot\EFI`, `/`-separated, e.g. `en-US/bootmgfw.efi.mui`. */
  relativePath: string;
  data: Buffer;
}

/**
 * Makes the ESP image. Reproducible: mkfs.fat takes its times from SOURCE_DATE_EPOCH, and the
 * files are staged on the host with the epoch as their times and copied with `mcopy -s -m`,
 * which keeps them. (No volume label: mtools restamps the label entry on every write.)
 */
export async function makeEsp(
  file: string,
  size: number,
  bootFiles: BootFile[],
  options: { epoch: number; seed: string },
): Promise<void> {
  const volumeId = createHash('sha256').update(`${options.seed}:esp`).digest('hex').slice(0, 8);
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(options.epoch), MTOOLS_SKIP_CHECK: '1' };
  await fs.writeFile(file, '');
  await fs.truncate(file, size);
  await run('mkfs.fat', ['-F', '32', '-i', volumeId, file], { env });
  if (bootFiles.length === 0) return;

  const staging = await fs.mkdtemp(`${file}.files-`);
  try {
    const tree = new Map<string, Buffer>();
    for (const boot of bootFiles) tree.set(`EFI/Microsoft/Boot/${boot.relativePath}`, boot.data);
    const bootManager = bootFiles.find((f) => f.relativePath.toLowerCase() === 'bootmgfw.efi');
    if (bootManager) tree.set('EFI/Boot/bootx64.efi', bootManager.data);

    const when = new Date(options.epoch * 1000);
    const directories = new Set<string>();
    for (const [relative, data] of tree) {
      const staged = path.join(staging, relative);
      await fs.mkdir(path.dirname(staged), { recursive: true });
      await fs.writeFile(staged, data);
      await fs.utimes(staged, when, when);
      for (let dir = path.dirname(relative); dir !== '.'; dir = path.dirname(dir)) directories.add(dir);
    }
    for (const dir of directories) await fs.utimes(path.join(staging, dir), when, when);
    await run('mcopy', ['-s', '-m', '-i', file, path.join(staging, 'EFI'), '::/'], { env });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

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

export async function makeEsp(
  file: string,
  size: number,
  bootFiles: BootFile[],
  options: { epoch: number; seed: string },
): Promise<void> {
  const volumeId = createHash('sha256').update(`${options.seed}:esp`).digest('hex').slice(0, 8);
  // mkfs.fat and mtools stamp times from SOURCE_DATE_EPOCH: same inputs, same bytes.
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(options.epoch), MTOOLS_SKIP_CHECK: '1' };
  await fs.writeFile(file, '');
  await fs.truncate(file, size);
  await run('mkfs.fat', ['-F', '32', '-i', volumeId, '-n', 'SYSTEM', file], { env });

  const staging = await fs.mkdtemp(`${file}.files-`);
  try {
    const tree = new Map<string, Buffer>();
    for (const boot of bootFiles) tree.set(`EFI/Microsoft/Boot/${boot.relativePath}`, boot.data);
    const bootManager = bootFiles.find((f) => f.relativePath.toLowerCase() === 'bootmgfw.efi');
    if (bootManager) tree.set('EFI/Boot/bootx64.efi', bootManager.data);

    const directories = new Set<string>();
    for (const relative of tree.keys()) {
      for (let dir = path.posix.dirname(relative); dir !== '.'; dir = path.posix.dirname(dir))
        directories.add(dir);
    }
    const sortedDirs = [...directories].sort();
    if (sortedDirs.length > 0) await run('mmd', ['-i', file, ...sortedDirs.map((d) => `::/${d}`)], { env });
    const when = new Date(options.epoch * 1000);
    for (const [relative, data] of [...tree.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const staged = path.join(staging, relative.replace(/\//g, '_'));
      await fs.writeFile(staged, data);
      await fs.utimes(staged, when, when);
      await run('mcopy', ['-m', '-i', file, staged, `::/${relative}`], { env });
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

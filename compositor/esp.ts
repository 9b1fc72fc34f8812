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

/** Characters mtools never hands to a shell (mkdtemp's suffixes are letters and digits). */
const MTOOLS_SAFE = /^[A-Za-z0-9._-]+$/;

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

  // mtools passes an image path with any of `$*(){}[]\?`~` to `sh -c "echo …"` to expand it (and a
  // drive's file= in an mtoolsrc the same way): it is run in the image's folder with names of
  // our own only, so no folder name a user chose, and no shell character, ever reaches it.
  const folder = path.dirname(path.resolve(file));
  const image = path.basename(file);
  if (!MTOOLS_SAFE.test(image)) throw new Error(`'${image}' is not a name mtools may be given`);
  const staging = await fs.mkdtemp(path.join(folder, `${image}.files-`));
  try {
    const tree = new Map<string, Buffer>();
    for (const boot of bootFiles) {
      // The names come from the OS layer's volume: none may climb out of the staging folder.
      if (boot.relativePath.split('/').some((part) => part === '' || part === '.' || part === '..'))
        throw new Error(`boot file '${boot.relativePath}' in \\Windows\\Boot\\EFI has an unusable path`);
      tree.set(`EFI/Microsoft/Boot/${boot.relativePath}`, boot.data);
    }
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
    await run('mcopy', ['-s', '-m', '-i', image, path.join(path.basename(staging), 'EFI'), '::/'], {
      env,
      cwd: folder,
    });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Removes what writers of `file` leave next to it while they work (`.<name>.*`: work folders,
 * temporary disks). A retry after a killed worker starts clean; a compensation removes every trace.
 */
export async function removeLeftovers(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** The file and its leftovers. */
export async function removeWithLeftovers(file: string): Promise<void> {
  await removeLeftovers(file);
  await fs.rm(file, { force: true });
}

export async function fileExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

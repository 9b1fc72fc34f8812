import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * Runs `task` with a scratch directory next to `output` (same file system, so partition images
 * are sparse where the output will be) and removes it afterwards, whatever happens. It is named
 * `.<output>.work-<random>` so that activities/leftovers.ts finds it after a killed worker; the
 * appliance names every output by ids (`<version id>.vhdx`, `image.<format>` in a task's scratch
 * folder), never by a name a user chose, and the tools given paths in it take them as arguments,
 * not through a shell (mtools, which would, gets relative names only: esp.ts).
 */
export async function withWorkDir<T>(output: string, task: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(
    path.join(path.dirname(path.resolve(output)), `.${path.basename(output)}.work-`),
  );
  try {
    return await task(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

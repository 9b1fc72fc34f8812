import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Proves `dir` writable by creating and removing a small file in it. The file name is unique per call:
 * checks running at once (parallel diagnostics, connector tests from several workers) must never
 * remove each other's probe, which turned a healthy folder into a false ENOENT failure.
 */
export async function probeWritable(dir: string): Promise<void> {
  const probe = path.join(dir, `.lamina-probe-${randomUUID()}`);
  await fs.writeFile(probe, 'ok', { flag: 'wx' });
  await fs.rm(probe);
}

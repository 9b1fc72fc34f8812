import fs from 'node:fs/promises';
import path from 'node:path';
import { HttpProblem } from '../problem';

/**
 * Uploads are files named by their id in the uploads folder; tasks get their path (claim check). The task
 * that used one removes it when it succeeds (a failed task keeps it, so a retry finds it); whatever is
 * left, failed tasks' and never-used uploads, is removed once it is older than the upload lifetime.
 */
export function uploadPath(uploadsDir: string, id: string): string {
  if (!/^[0-9a-f-]{36}$/.test(id))
    throw new HttpProblem({ title: 'Invalid upload id', status: 400, detail: `'${id}' is not an upload id` });
  return path.join(uploadsDir, id);
}

/** The path of an upload that is there, or a 422 naming the field that names a missing one. */
export async function existingUpload(uploadsDir: string, id: string, field: string): Promise<string> {
  const file = uploadPath(uploadsDir, id);
  const exists = await fs.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!exists) {
    const message = `no upload '${id}': uploads are removed once a task has used them, or when they expire`;
    throw new HttpProblem({
      title: 'Upload not found',
      status: 422,
      detail: `${field}: ${message}.`,
      errors: [{ field, message }],
    });
  }
  return file;
}

/** Removes uploads (and partial ones a broken request left) last written more than `maxAgeMs` ago. */
export async function purgeExpiredUploads(
  uploadsDir: string,
  maxAgeMs: number,
  now = Date.now(),
): Promise<string[]> {
  const names = await fs.readdir(uploadsDir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const file = path.join(uploadsDir, name);
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat?.isFile() && now - stat.mtimeMs > maxAgeMs) {
      await fs.rm(file, { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** Purges expired uploads now and then every hour (or every quarter of the lifetime, when shorter). */
export function startUploadPurge(
  uploadsDir: string,
  maxAgeMs: number,
  log: (line: string) => void,
): { stop(): Promise<void> } {
  let running = Promise.resolve();
  const purge = () => {
    running = running
      .then(() => purgeExpiredUploads(uploadsDir, maxAgeMs))
      .then(
        (removed) => void (removed.length > 0 && log(`removed ${removed.length} expired upload(s)`)),
        (err: Error) => log(`purging expired uploads failed: ${err.message}`),
      );
  };
  purge();
  const timer = setInterval(purge, Math.min(3600_000, maxAgeMs / 4));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

import fs from 'node:fs/promises';
import path from 'node:path';

export function createUploadActivities(deps: { uploadsDir: string }) {
  return {
    /**
     * A task that succeeded removes the uploads it used. Only files directly in the uploads folder named
     * by an upload id are uploads; any other path a task was given is left alone.
     */
    async removeUploads(files: string[]): Promise<void> {
      for (const file of files) {
        const isUpload =
          path.dirname(path.resolve(file)) === path.resolve(deps.uploadsDir) &&
          /^[0-9a-f-]{36}$/.test(path.basename(file));
        if (isUpload) await fs.rm(file, { force: true });
      }
    },
  };
}

export type UploadActivities = ReturnType<typeof createUploadActivities>;

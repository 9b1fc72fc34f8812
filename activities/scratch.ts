import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Scratch folders on the appliance for a task's intermediate files (composed images, boot and package
 * disks before upload). One per task, named by an id the workflow chose, removed when the task ends
 * however it ends.
 */
export function createScratchActivities(deps: { scratchDir: string }) {
  const folderOf = (id: string) => {
    if (!/^[A-Za-z0-9-]{1,100}$/.test(id)) throw new Error(`'${id}' is not a scratch id`);
    return path.join(deps.scratchDir, id);
  };
  return {
    async createScratch(id: string): Promise<string> {
      const dir = folderOf(id);
      await fs.mkdir(dir, { recursive: true });
      return dir;
    },
    async removeScratch(id: string): Promise<void> {
      await fs.rm(folderOf(id), { recursive: true, force: true });
    },
  };
}

export type ScratchActivities = ReturnType<typeof createScratchActivities>;

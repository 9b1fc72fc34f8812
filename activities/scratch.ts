import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Scratch folders on the appliance for a task's intermediate files (composed images, boot and package
 * disks before upload, VM disks downloaded from a hypervisor). One per task, named by an id the
 * workflow chose, removed when the task ends however it ends.
 */
export function scratchFolder(scratchDir: string, id: string): string {
  if (!/^[A-Za-z0-9-]{1,100}$/.test(id)) throw new Error(`'${id}' is not a scratch id`);
  return path.join(scratchDir, id);
}

export function createScratchActivities(deps: { scratchDir: string }) {
  return {
    async createScratch(id: string): Promise<string> {
      const dir = scratchFolder(deps.scratchDir, id);
      await fs.mkdir(dir, { recursive: true });
      return dir;
    },
    async removeScratch(id: string): Promise<void> {
      await fs.rm(scratchFolder(deps.scratchDir, id), { recursive: true, force: true });
    },
  };
}

export type ScratchActivities = ReturnType<typeof createScratchActivities>;

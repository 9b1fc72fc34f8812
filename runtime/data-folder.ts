import fs from 'node:fs';
import path from 'node:path';
import { isAlive, processRecord, readPidFile, writePidFile } from '../lib/processes';

/**
 * The embedded services of a data folder (its PostgreSQL cluster, its Temporal dev server) belong to one
 * Lamina process at a time, recorded in `<data folder>/lamina.pid`. A start that finds the file naming a
 * live process refuses; one that finds it naming a dead process (killed, so it stopped nothing) takes
 * over, and may then stop what that process left running: nobody else can be using it.
 */
export function claimDataFolder(dataDir: string): { release(): void } {
  const file = path.join(dataDir, 'lamina.pid');
  for (;;) {
    const holder = readPidFile(file);
    if (holder && holder.pid !== process.pid && isAlive(holder)) {
      throw new Error(
        `another Lamina (pid ${holder.pid}: ${holder.command.join(' ')}) runs the embedded services of ` +
          `${dataDir}; stop it first, or set LAMINA_DATA_DIR to another folder`,
      );
    }
    fs.rmSync(file, { force: true });
    try {
      writePidFile(file, processRecord(process.pid)!, { exclusive: true });
      break;
    } catch (err) {
      // Another start claimed it between the check and the write: look again at who holds it.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return {
    release() {
      if (readPidFile(file)?.pid === process.pid) fs.rmSync(file, { force: true });
    },
  };
}

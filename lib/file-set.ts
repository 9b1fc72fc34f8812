import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Files in one folder replaced together, so a reader sees the old set or the new set, never a mix, even
 * when the writer is killed (kill -9, power loss) at any instruction:
 *
 * 1. every new file is written beside its target as `.<name>.next` and fsynced;
 * 2. the journal `.file-set-commit` (the names) is written under a temporary name, fsynced and renamed
 *    in: from this rename on, the new set is the set;
 * 3. each `.next` file is renamed over its target, the folder fsynced, the journal removed.
 *
 * A kill before step 2 leaves `.next` files that the next writer removes (the old set stands); a kill
 * during step 3 leaves the journal, and `readFileSet` reads the new set through it until the next
 * writer (or `recoverFileSet`) finishes the renames. Readers of the folder that do not know the journal
 * (the desktops) can only ever see a mix for the few renames of step 3 after a crash in between.
 */

const JOURNAL = '.file-set-commit';
const staged = (dir: string, name: string) => path.join(dir, `.${name}.next`);

function checkName(name: string): void {
  if (name !== path.basename(name) || name.startsWith('.') || name.length === 0) {
    throw new Error(`'${name}' is not a plain file name`);
  }
}

async function writeDurably(file: string, content: Buffer | string): Promise<void> {
  const handle = await fs.open(file, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the folder's entries (renames, removals) durable. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function journalNames(dir: string): Promise<string[] | undefined> {
  const text = await fs.readFile(path.join(dir, JOURNAL), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? undefined : (JSON.parse(text) as string[]);
}

/**
 * Finishes a replacement a killed writer committed (step 3), or removes what an uncommitted one staged.
 * `names` are the set's files, so stray staged files of a writer killed before its commit are found.
 */
export async function recoverFileSet(dir: string, names: readonly string[]): Promise<void> {
  const committed = await journalNames(dir);
  if (committed) {
    for (const name of committed) {
      await fs.rename(staged(dir, name), path.join(dir, name)).catch((err: NodeJS.ErrnoException) => {
        // Renamed before the kill.
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await syncFolder(dir);
    await fs.rm(path.join(dir, JOURNAL), { force: true });
  }
  for (const name of names) await fs.rm(staged(dir, name), { force: true });
  await fs.rm(path.join(dir, `${JOURNAL}.tmp`), { force: true });
  await syncFolder(dir);
}

/** Replaces the files named in `files` (name → content) as one set; see the module comment. */
export async function replaceFileSet(dir: string, files: Record<string, Buffer | string>): Promise<void> {
  const names = Object.keys(files);
  names.forEach(checkName);
  await recoverFileSet(dir, names);
  for (const name of names) await writeDurably(staged(dir, name), files[name]);
  await writeDurably(path.join(dir, `${JOURNAL}.tmp`), JSON.stringify(names));
  await fs.rename(path.join(dir, `${JOURNAL}.tmp`), path.join(dir, JOURNAL));
  await syncFolder(dir);
  await recoverFileSet(dir, names);
}

/**
 * The set as it stands: through the journal when a writer was killed after committing, so a reader
 * never takes half of it. A file of the set that does not exist is missing from the answer.
 */
export async function readFileSet(dir: string, names: readonly string[]): Promise<Record<string, Buffer>> {
  names.forEach(checkName);
  const committed = new Set((await journalNames(dir)) ?? []);
  const read = async (file: string) =>
    fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  const result: Record<string, Buffer> = {};
  for (const name of names) {
    const content =
      (committed.has(name) ? await read(staged(dir, name)) : undefined) ?? (await read(path.join(dir, name)));
    if (content) result[name] = content;
  }
  return result;
}

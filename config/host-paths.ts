import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Rules for paths on the appliance that API callers name: disk files to import and file share mount
 * points. Lamina runs as root, so a path a caller names is read or written with every right there is;
 * these rules keep callers to folders the administrator set aside for them.
 */

/** The operating system's folders (and every `/lib*`): no share is mounted there, no import folder holds one. */
const SYSTEM_FOLDERS = [
  '/etc',
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/boot',
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/var/lib',
  '/var/log',
  '/var/spool',
  '/root',
];

function isWithin(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return (
    relative === '' ||
    (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
  );
}

/** The system folder `folder` is (or is inside), if any. */
function systemFolderOf(folder: string): string | undefined {
  const top = `/${folder.split('/')[1]}`;
  if (top.startsWith('/lib')) return top;
  return SYSTEM_FOLDERS.find((system) => isWithin(folder, system));
}

/** The protected folder (`/`, a system folder, one of Lamina's own) that `dir` is or holds, if any. */
export function protectedFolderUnder(dir: string, ownDirs: readonly string[]): string | undefined {
  return ['/', ...SYSTEM_FOLDERS, ...ownDirs].find((folder) => isWithin(folder, dir));
}

/** A path a caller named that breaks a rule: `message` says which, for a 422 naming the field. */
export class PathRefused extends Error {}

/** Real paths of folders, so a symlinked data folder or import folder still matches what realpath gives. */
async function realFolders(dirs: readonly string[]): Promise<string[]> {
  const real = await Promise.all(dirs.map((dir) => fs.realpath(dir).catch(() => dir)));
  return [...new Set([...dirs, ...real])];
}

/**
 * The real path of a disk file to import: it must be a regular file inside one of the import folders,
 * after symlinks and `..` are resolved. Paths outside them are refused before the file system is asked,
 * so a caller cannot even learn whether such a file exists.
 */
export async function resolveImportFile(diskPath: string, importDirs: readonly string[]): Promise<string> {
  const allowed = `must be a file inside an import folder (LAMINA_IMPORT_DIRS: ${importDirs.join(':')})`;
  const roots = await realFolders(importDirs);
  if (!roots.some((root) => isWithin(path.resolve(diskPath), root))) throw new PathRefused(allowed);
  let real: string;
  try {
    real = await fs.realpath(diskPath);
  } catch {
    throw new PathRefused(`${diskPath} does not exist`);
  }
  if (!roots.some((root) => isWithin(real, root)))
    throw new PathRefused(`${allowed}; ${diskPath} leads to ${real}`);
  if (!(await fs.stat(real)).isFile()) throw new PathRefused(`${diskPath} is not a regular file`);
  return real;
}

/** Mount points of this process's mount namespace, from /proc/self/mountinfo (field 5, octal escapes undone). */
async function mountPoints(): Promise<Set<string>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return new Set(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) =>
        line
          .split(' ')[4]
          .replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
      ),
  );
}

/**
 * Checks a file share's mount point: a real mount (so images never fill the appliance's own disk when the
 * share is not mounted), not `/`, not in a system folder and not in Lamina's own folders.
 */
export async function checkMountPoint(mountPoint: string, ownDirs: readonly string[]): Promise<void> {
  let real: string;
  try {
    real = await fs.realpath(mountPoint);
  } catch {
    throw new PathRefused(`${mountPoint} does not exist`);
  }
  const where = real === mountPoint ? mountPoint : `${mountPoint} (${real})`;
  if (real === '/')
    throw new PathRefused(`${where} is the root folder; mount the share on a folder of its own`);
  const system = systemFolderOf(real);
  if (system) throw new PathRefused(`${where} is in the system folder ${system}`);
  const own = (await realFolders(ownDirs)).find((dir) => isWithin(real, dir));
  if (own) throw new PathRefused(`${where} is in Lamina's own folder ${own}`);
  if (!(await mountPoints()).has(real))
    throw new PathRefused(`${where} is not a mount point; mount the share there first`);
}

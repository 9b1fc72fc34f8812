import { runNtfsCore, volumeArgument, type ServedVolume, type VolumeRef } from '../native';

/**
 * The file half of capture by difference: the NTFS core compares the two volumes MFT record by
 * MFT record (native/ntfs/capture-diff.c) and names the paths that came, changed or went; this
 * module turns those into what a layer holds — entries to copy and paths to delete.
 */

/** What the core prints for each change. */
interface CoreChange {
  change: 'added' | 'changed' | 'deleted';
  path: string;
  dir: boolean;
  size: number;
}

/** A file or folder of AFTER to put into the layer. */
export interface CapturedEntry {
  /** `/`-separated volume path, as AFTER spells it. */
  path: string;
  dir: boolean;
  /** Bytes of all its data streams. */
  size: number;
  /** `changed`: BASE had a file at this path (replaced or edited); `added`: it did not. */
  kind: 'added' | 'changed';
}

export interface VolumeChanges {
  entries: CapturedEntry[];
  /** Paths BASE had and AFTER does not (a deleted folder stands for everything under it). */
  deletions: { path: string; dir: boolean; size: number }[];
}

/** How many MFT records the core compared, of all the volumes have. */
export interface RecordsCompared {
  compared: number;
  records: number;
}

/**
 * Runs the core's diff; at most one of the volumes may be served (the core has one socket for it).
 * `changedRanges`, when AFTER's disk is a child of BASE's, is a file of the volume ranges the child
 * holds (see native/ntfs/capture-diff.h): only the MFT records there are compared.
 */
export async function diffVolumes(
  base: VolumeRef,
  after: VolumeRef,
  options: { changedRanges?: string; signal?: AbortSignal } = {},
): Promise<VolumeChanges & { recordsCompared: RecordsCompared }> {
  const served = [base, after].find((v): v is ServedVolume => typeof v !== 'string' && !v.mapFile);
  const ranges = options.changedRanges ? [options.changedRanges] : [];
  const output = await runNtfsCore(['diff', volumeArgument(base), volumeArgument(after), ...ranges], {
    stdout: 'data',
    signal: options.signal,
    served,
  });
  const lines = output
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as CoreChange | RecordsCompared);
  const recordsCompared = lines.pop() as RecordsCompared;
  return { ...reconcile(lines as CoreChange[]), recordsCompared };
}

function insideDeletedFolder(path: string, gone: Map<string, { dir: boolean }>): boolean {
  for (let end = path.lastIndexOf('/'); end > 0; end = path.lastIndexOf('/', end - 1))
    if (gone.get(path.slice(0, end).toUpperCase())?.dir) return true;
  return false;
}

/**
 * A path deleted and added again (a file replaced by a new one, a record reused) is a change, not a
 * deletion; paths compare without case, as Windows does. Deletions inside a deleted folder go: the
 * folder's whiteout removes them.
 */
export function reconcile(changes: CoreChange[]): VolumeChanges {
  const present = new Map<string, CapturedEntry>();
  const gone = new Map<string, { path: string; dir: boolean; size: number }>();
  for (const change of changes) {
    const key = change.path.toUpperCase();
    if (change.change === 'deleted') {
      gone.set(key, { path: change.path, dir: change.dir, size: change.size });
      continue;
    }
    present.set(key, { path: change.path, dir: change.dir, size: change.size, kind: change.change });
  }
  for (const [key, entry] of present) {
    const replaced = gone.get(key);
    if (!replaced) continue;
    gone.delete(key);
    // A folder deleted and made again holds only what is listed in it now: no whiteout for it,
    // the entries it lost are deleted one by one. A file replaced is a changed file.
    if (!entry.dir && !replaced.dir) entry.kind = 'changed';
  }
  const deletions = [...gone.values()]
    .filter((d) => !insideDeletedFolder(d.path, gone))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const entries = [...present.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, deletions };
}

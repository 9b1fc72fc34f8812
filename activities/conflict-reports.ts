import path from 'node:path';
import type { ComposeReport } from '../compositor/compose';

/**
 * Compose reports (ARCHITECTURE.md §1, claim check): the compose activity returns the conflicts as
 * bounded data and stores the full report in the layer repository by id, where any worker finds it;
 * a path on the compose worker's disk would mean nothing to a worker on another machine.
 */

type Conflicts = ComposeReport['conflicts'];

/** The conflicts an activity result carries: the counts, and the first ones while they stay small. */
export interface BoundedConflicts {
  fileConflicts: number;
  registryConflicts: number;
  /** The first conflicts, files before registry values, as in the full report. */
  first: Conflicts;
  /** Some conflicts are only in the full report (by count, or by size: paths may be very long). */
  truncated: boolean;
}

/** At most this many conflicts travel with the result… */
export const MAX_CONFLICTS = 200;
/** …and at most this many bytes of them as JSON: Temporal refuses payloads over 2 MB. */
export const MAX_CONFLICT_BYTES = 256 * 1024;

export function boundConflicts(conflicts: Conflicts): BoundedConflicts {
  const first: Conflicts = { files: [], registry: [] };
  let bytes = 0;
  let kept = 0;
  const keep = <T>(list: T[], into: T[]) => {
    for (const conflict of list) {
      const size = Buffer.byteLength(JSON.stringify(conflict)) + 1;
      if (kept === MAX_CONFLICTS || bytes + size > MAX_CONFLICT_BYTES) return;
      into.push(conflict);
      bytes += size;
      kept += 1;
    }
  };
  keep(conflicts.files, first.files);
  keep(conflicts.registry, first.registry);
  return {
    fileConflicts: conflicts.files.length,
    registryConflicts: conflicts.registry.length,
    first,
    truncated: kept < conflicts.files.length + conflicts.registry.length,
  };
}

/** Where the full report of a compose stored by id lives: `<repository>/reports/<id>.json`. */
export function conflictReportPath(repositoryDir: string, id: string): string {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`'${id}' is not a report id`);
  return path.join(repositoryDir, 'reports', `${id}.json`);
}

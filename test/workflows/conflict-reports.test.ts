import type { ComposeReport } from '../../compositor/compose';
import { boundConflicts, MAX_CONFLICTS } from '../../activities/conflict-reports';

type Conflicts = ComposeReport['conflicts'];

/** Temporal refuses a payload over 2 MB; the compose result must stay well under it. */
const PAYLOAD_LIMIT = 2 * 1024 * 1024;

function conflicts(count: number, pathLength: number): Conflicts {
  const files = Array.from({ length: count }, (_, i) => ({
    path: `\\Program Files\\${String(i).padStart(6, '0')}${'x'.repeat(pathLength)}`,
    winner: 'App B',
    losers: ['App A'],
  }));
  const registry = Array.from({ length: count }, (_, i) => ({
    key: `HKEY_LOCAL_MACHINE\\SOFTWARE\\Demo${i}`,
    valueName: 'Owner',
    winner: 'App B',
    losers: ['App A'],
    merged: false,
  }));
  return { files, registry };
}

describe('the conflicts a compose returns', () => {
  it('carries every conflict of a small report, with its counts', () => {
    const all = conflicts(3, 10);
    expect(boundConflicts(all)).toEqual({
      fileConflicts: 3,
      registryConflicts: 3,
      first: all,
      truncated: false,
    });
  });

  it('carries the first conflicts of a large report, files first, and says it was cut', () => {
    const all = conflicts(50_000, 40);
    const bounded = boundConflicts(all);
    expect(bounded).toMatchObject({ fileConflicts: 50_000, registryConflicts: 50_000, truncated: true });
    expect(bounded.first.files).toEqual(all.files.slice(0, MAX_CONFLICTS));
    expect(bounded.first.registry).toEqual([]);
    expect(Buffer.byteLength(JSON.stringify(bounded))).toBeLessThan(PAYLOAD_LIMIT / 4);
  });

  it('stays small when the paths are as long as NTFS allows', () => {
    const bounded = boundConflicts(conflicts(1_000, 32_000));
    expect(bounded.truncated).toBe(true);
    expect(bounded.first.files.length).toBeGreaterThan(0);
    expect(Buffer.byteLength(JSON.stringify(bounded))).toBeLessThan(PAYLOAD_LIMIT / 4);
  });
});

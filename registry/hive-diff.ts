import { readCurrentControlSet } from './apply';
import { findValue, HiveFile, type StoredValue } from './hive';
import { formatHiveKey, type HiveName } from './hive-mapping';
import type { RegOperation } from './operations';

/**
 * What changed in one hive between two copies of it (a packaging machine's hive before and after
 * an install), as the .reg operations that turn the first into the second: new keys, new and
 * changed values (exact type and bytes), deleted values and deleted keys. In SYSTEM, each copy's
 * current `ControlSet00N` (its `Select\Current`) is compared with the other's and written as
 * `CurrentControlSet`, so the delta applies to whichever control set an image boots with; other
 * control sets keep their own names (and are usually left out as noise by the caller).
 */

/** A key as the caller sees it: its path below the hive root, CurrentControlSet already named so. */
export interface HiveDiffExclusions {
  /** The rule that leaves out this key (and everything below it), if any. */
  key(path: string[]): string | undefined;
  /** The rule that leaves out this value of a key that is compared, if any. */
  value(path: string[], name: string): string | undefined;
}

export interface HiveDiffOptions {
  hive: HiveName;
  exclusions?: HiveDiffExclusions;
  /** Told about each key or value left out: the rule and the item (`KEY` or `KEY "value"`). */
  onExcluded?: (rule: string, item: string) => void;
}

const SOURCE = { file: 'capture', line: 0 };
const CONTROL_SET = /^ControlSet\d{3}$/i;
const CURRENT_CONTROL_SET = 'CurrentControlSet';

interface KeyNode {
  hive: HiveFile;
  node: number;
}

/** The subkeys of a key by the name the delta uses (upper case for matching), and that name. */
function subkeysOf(
  key: KeyNode,
  rename: (name: string) => string,
): Map<string, { name: string; node: number }> {
  const byName = new Map<string, { name: string; node: number }>();
  for (const node of key.hive.subkeys(key.node)) {
    const name = rename(key.hive.keyName(node));
    byName.set(name.toUpperCase(), { name, node });
  }
  return byName;
}

function sameValue(a: StoredValue, b: StoredValue): boolean {
  return a.type === b.type && a.data.equals(b.data);
}

export function diffHives(basePath: string, afterPath: string, options: HiveDiffOptions): RegOperation[] {
  const { hive: hiveName, exclusions, onExcluded } = options;
  // Each copy's current control set becomes CurrentControlSet; only at the SYSTEM hive's root.
  const renamers =
    hiveName === 'SYSTEM'
      ? [basePath, afterPath].map((file) => {
          const current = `ControlSet${String(readCurrentControlSet(file)).padStart(3, '0')}`.toUpperCase();
          return (name: string) =>
            CONTROL_SET.test(name) && name.toUpperCase() === current ? CURRENT_CONTROL_SET : name;
        })
      : [(name: string) => name, (name: string) => name];
  const base = HiveFile.open(basePath, { writable: false });
  const operations: RegOperation[] = [];
  try {
    const after = HiveFile.open(afterPath, { writable: false });
    try {
      const keyOf = (path: string[]) => formatHiveKey({ hive: hiveName, path });
      let excludedCount = 0;
      const excludedKey = (path: string[]): boolean => {
        const rule = exclusions?.key(path);
        if (rule) {
          excludedCount++;
          onExcluded?.(rule, keyOf(path));
        }
        return rule !== undefined;
      };

      const compareValues = (before: KeyNode | undefined, now: KeyNode, path: string[]) => {
        const key = keyOf(path);
        const old = before ? before.hive.values(before.node) : [];
        const current = now.hive.values(now.node);
        const kept = (name: string) => {
          const rule = exclusions?.value(path, name);
          if (rule) {
            excludedCount++;
            onExcluded?.(rule, `${key} "${name}"`);
          }
          return rule === undefined;
        };
        for (const value of current) {
          const previous = old[findValue(old, value.name)];
          if (previous && sameValue(previous, value)) continue;
          if (kept(value.name))
            operations.push({
              kind: 'setValue',
              key,
              name: value.name,
              type: value.type,
              data: value.data,
              ...SOURCE,
            });
        }
        for (const value of old) {
          if (findValue(current, value.name) === -1 && kept(value.name))
            operations.push({ kind: 'deleteValue', key, name: value.name, ...SOURCE });
        }
      };

      const compareKey = (before: KeyNode | undefined, now: KeyNode, path: string[], depth: number) => {
        if (path.length > 0 && excludedKey(path)) return;
        const [opsBefore, excludedBefore] = [operations.length, excludedCount];
        if (!before) operations.push({ kind: 'createKey', key: keyOf(path), ...SOURCE });
        compareValues(before, now, path);
        const rename = (side: 0 | 1) => (depth === 0 ? renamers[side] : (name: string) => name);
        const old = before ? subkeysOf(before, rename(0)) : new Map<string, { name: string; node: number }>();
        const current = subkeysOf(now, rename(1));
        for (const [upper, child] of current) {
          const previous = old.get(upper);
          compareKey(
            previous && { hive: base, node: previous.node },
            { hive: after, node: child.node },
            [...path, child.name],
            depth + 1,
          );
        }
        for (const [upper, child] of old) {
          if (current.has(upper)) continue;
          const childPath = [...path, child.name];
          if (!excludedKey(childPath))
            operations.push({ kind: 'deleteKey', key: keyOf(childPath), ...SOURCE });
        }
        // A new key that holds nothing but noise (a ShutdownTime value in a key made for it) is noise too.
        if (!before && operations.length === opsBefore + 1 && excludedCount > excludedBefore)
          operations.pop();
      };

      compareKey({ hive: base, node: base.root }, { hive: after, node: after.root }, [], 0);
    } finally {
      after.close();
    }
  } finally {
    base.close();
  }
  return operations;
}

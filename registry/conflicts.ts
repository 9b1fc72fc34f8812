import { formatHiveKey, locateOperation, resolveCurrentControlSet, type HiveKeyPath } from './hive-mapping';
import type { RegOperation, SetValueOperation } from './operations';
import { isSystemEnvironmentKey, mergeListValue } from './path-merge';

/** One layer's registry changes, for conflict tracking. */
export interface LayerRegistryChanges {
  /** How the report names the layer (e.g. "Office 2021 v3"). */
  layer: string;
  /** The OS layer is the base everything overrides; it is never part of a conflict. */
  isOsLayer?: boolean;
  operations: RegOperation[];
}

/** A registry value that more than one non-OS layer sets. */
export interface RegistryValueConflict {
  /** Full key path in regedit form: the root written out, subkeys as the winning layer spelled them. */
  key: string;
  /** '' for the default value. */
  valueName: string;
  /** The highest-priority layer setting the value. */
  winner: string;
  /** The other layers setting it, lowest priority first. */
  losers: string[];
  /** True when the layers' `;`-lists are merged (system Path and the like), so nobody lost entries. */
  merged: boolean;
}

export interface ConflictOptions {
  /**
   * The SYSTEM hive's current control set (Select\Current), so that a value written under
   * CurrentControlSet and under ControlSet00N is recognised as the same. Without it the two
   * spellings are treated as different keys.
   */
  currentControlSet?: number;
}

interface ValueSetter {
  layer: string;
  op: SetValueOperation;
  key: HiveKeyPath;
}

/**
 * For layers given lowest priority first (the compositor's order), every value set by more
 * than one non-OS layer, with the winner (last setter) and the losers. Keys and value names
 * compare case-insensitively; a layer setting the same value twice counts once. Results come
 * in the order the values were first set.
 */
export function findRegistryConflicts(
  layers: LayerRegistryChanges[],
  options: ConflictOptions = {},
): RegistryValueConflict[] {
  const settersByValue = new Map<string, ValueSetter[]>();
  for (const { layer, isOsLayer, operations } of layers) {
    if (isOsLayer) continue;
    for (const op of operations) {
      if (op.kind !== 'setValue') continue;
      const located = locateOperation(op);
      const key = { hive: located.hive, path: canonicalPath(located, options) };
      const identity = `${formatHiveKey(key)}\\\\${op.name}`.toUpperCase();
      const setters = settersByValue.get(identity) ?? [];
      const previousByThisLayer = setters.findIndex((setter) => setter.layer === layer);
      if (previousByThisLayer !== -1) setters.splice(previousByThisLayer, 1);
      setters.push({ layer, op, key });
      settersByValue.set(identity, setters);
    }
  }
  return [...settersByValue.values()]
    .filter((setters) => setters.length > 1)
    .map((setters) => {
      const winner = setters[setters.length - 1];
      return {
        key: formatHiveKey(winner.key),
        valueName: winner.op.name,
        winner: winner.layer,
        losers: setters.slice(0, -1).map((setter) => setter.layer),
        merged: isMergedList(setters),
      };
    });
}

function canonicalPath(key: HiveKeyPath, options: ConflictOptions): string[] {
  if (key.hive !== 'SYSTEM' || options.currentControlSet === undefined) return key.path;
  return resolveCurrentControlSet(key.path, options.currentControlSet);
}

/** Whether applying the setters in order merges every one into the previous, as applyRegistryChanges would. */
function isMergedList(setters: ValueSetter[]): boolean {
  const { key } = setters[0];
  if (key.hive !== 'SYSTEM' || !isSystemEnvironmentKey(key.path)) return false;
  return setters
    .slice(1)
    .every((setter, i) => mergeListValue(setter.op.name, setters[i].op, setter.op) !== undefined);
}

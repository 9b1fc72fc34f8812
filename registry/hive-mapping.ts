import type { RegOperation } from './operations';

/**
 * Which hive file holds a registry key. A layer may change the machine hives SOFTWARE and
 * SYSTEM and the default user profile (DEFAULT); anything else (SAM, SECURITY, HARDWARE, a
 * user's own hive, HKEY_CURRENT_USER) is not part of an image and is refused.
 */

export type HiveName = 'SYSTEM' | 'SOFTWARE' | 'DEFAULT';

export const HIVE_NAMES: readonly HiveName[] = ['SYSTEM', 'SOFTWARE', 'DEFAULT'];

/** A key inside one hive: `path` is the list of subkey names below the hive's root key. */
export interface HiveKeyPath {
  hive: HiveName;
  path: string[];
}

/** A key outside the three hives a layer may change. */
export class RegistryRootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryRootError';
  }
}

const ROOT_ALIASES: Record<string, string> = {
  HKEY_LOCAL_MACHINE: 'HKEY_LOCAL_MACHINE',
  HKLM: 'HKEY_LOCAL_MACHINE',
  HKEY_USERS: 'HKEY_USERS',
  HKU: 'HKEY_USERS',
};

const HIVE_MOUNTS: { root: string; mount: string; hive: HiveName }[] = [
  { root: 'HKEY_LOCAL_MACHINE', mount: 'SOFTWARE', hive: 'SOFTWARE' },
  { root: 'HKEY_LOCAL_MACHINE', mount: 'SYSTEM', hive: 'SYSTEM' },
  { root: 'HKEY_USERS', mount: '.DEFAULT', hive: 'DEFAULT' },
];

/** Maps `HKEY_LOCAL_MACHINE\SOFTWARE\X` to { hive: 'SOFTWARE', path: ['X'] }, or throws. */
export function locateKey(key: string): HiveKeyPath {
  const [root, mount, ...path] = key.split('\\');
  const canonicalRoot = ROOT_ALIASES[root.toUpperCase()];
  const found = HIVE_MOUNTS.find(
    (m) => m.root === canonicalRoot && m.mount.toUpperCase() === (mount ?? '').toUpperCase(),
  );
  if (!found) {
    throw new RegistryRootError(
      `${key}: Lamina changes only HKEY_LOCAL_MACHINE\\SOFTWARE, HKEY_LOCAL_MACHINE\\SYSTEM ` +
        'and HKEY_USERS\\.DEFAULT (the SOFTWARE, SYSTEM and DEFAULT hives)',
    );
  }
  return { hive: found.hive, path };
}

/** The key written back in regedit's full form, e.g. for reports. */
export function formatHiveKey({ hive, path }: HiveKeyPath): string {
  const mount = HIVE_MOUNTS.find((m) => m.hive === hive)!;
  return [mount.root, mount.mount, ...path].join('\\');
}

/**
 * CurrentControlSet is a link Windows creates at boot; in the SYSTEM hive file it is the
 * ControlSet00N named by the DWORD Select\Current. Other paths are returned unchanged.
 */
export function resolveCurrentControlSet(path: string[], current: number): string[] {
  if (!usesCurrentControlSet(path)) return path;
  return [`ControlSet${String(current).padStart(3, '0')}`, ...path.slice(1)];
}

export function usesCurrentControlSet(path: string[]): boolean {
  return path.length > 0 && path[0].toUpperCase() === 'CURRENTCONTROLSET';
}

/**
 * Splits a .reg file's operations by the hive they change, keeping their order. Throws a
 * RegistryRootError naming the file and line of the first key outside the three hives.
 */
export function splitOperationsByHive(operations: RegOperation[]): Record<HiveName, RegOperation[]> {
  const byHive: Record<HiveName, RegOperation[]> = { SYSTEM: [], SOFTWARE: [], DEFAULT: [] };
  for (const op of operations) byHive[locateOperation(op).hive].push(op);
  return byHive;
}

/** locateKey for an operation, with the operation's file and line in the error. */
export function locateOperation(op: RegOperation): HiveKeyPath {
  try {
    return locateKey(op.key);
  } catch (error) {
    if (error instanceof RegistryRootError)
      throw new RegistryRootError(`${op.file}:${op.line}: ${error.message}`);
    throw error;
  }
}

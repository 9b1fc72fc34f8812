import { decodeRegString, encodeRegString, isStringType, RegType } from './values';

/**
 * Environment lists such as the system Path are shared by every layer: an app layer that adds
 * its folder to Path must not erase the folders the OS and the other layers added. In the
 * system environment key, `;`-separated list values are therefore merged instead of replaced.
 */

/** Values merged even when the existing value happens to hold a single entry. */
const LIST_VALUE_NAMES = new Set(['PATH', 'PATHEXT', 'PSMODULEPATH']);

/**
 * `ControlSet00N\Control\Session Manager\Environment` of the SYSTEM hive (any control set), or
 * the same under the not yet resolved CurrentControlSet.
 */
export function isSystemEnvironmentKey(pathInSystemHive: string[]): boolean {
  if (pathInSystemHive.length !== 4) return false;
  const [controlSet, ...rest] = pathInSystemHive;
  return (
    /^(CurrentControlSet|ControlSet\d{3})$/i.test(controlSet) &&
    rest.join('\\').toUpperCase() === 'CONTROL\\SESSION MANAGER\\ENVIRONMENT'
  );
}

export interface TypedData {
  type: number;
  data: Buffer;
}

/**
 * The merged value when `incoming` should be merged into `existing` (both strings, and the
 * value is a known list or the existing text contains ';'), otherwise undefined: the incoming
 * value simply replaces the old one. Existing entries keep their order, new entries are
 * appended, duplicates are dropped ignoring case, and the result stays REG_EXPAND_SZ if either
 * side was, so %variables% keep expanding.
 */
export function mergeListValue(
  name: string,
  existing: TypedData | undefined,
  incoming: TypedData,
): TypedData | undefined {
  if (!existing || !isStringType(existing.type) || !isStringType(incoming.type)) return undefined;
  const existingText = decodeRegString(existing.data);
  if (!LIST_VALUE_NAMES.has(name.toUpperCase()) && !existingText.includes(';')) return undefined;

  const entries: string[] = [];
  const seen = new Set<string>();
  for (const entry of [...listEntries(existingText), ...listEntries(decodeRegString(incoming.data))]) {
    const identity = entry.trim().toUpperCase();
    if (seen.has(identity)) continue;
    seen.add(identity);
    entries.push(entry);
  }
  const type =
    existing.type === RegType.EXPAND_SZ || incoming.type === RegType.EXPAND_SZ
      ? RegType.EXPAND_SZ
      : RegType.SZ;
  return { type, data: encodeRegString(entries.join(';')) };
}

function listEntries(text: string): string[] {
  return text.split(';').filter((entry) => entry.trim() !== '');
}

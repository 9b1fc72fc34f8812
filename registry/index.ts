/** The registry half of the compositor: see registry/README.md for the API and how to build it. */
export { applyRegistryChanges, readCurrentControlSet, type ApplyOptions, type ApplySummary } from './apply';
export {
  findRegistryConflicts,
  type ConflictOptions,
  type LayerRegistryChanges,
  type RegistryValueConflict,
} from './conflicts';
export { createEmptyHive, emptyHiveBytes, type EmptyHiveOptions } from './empty-hive';
export { RegistryHiveError } from './hive';
export { diffHives, type HiveDiffExclusions, type HiveDiffOptions } from './hive-diff';
export {
  formatHiveKey,
  HIVE_NAMES,
  locateKey,
  RegistryRootError,
  splitOperationsByHive,
  type HiveKeyPath,
  type HiveName,
} from './hive-mapping';
export type * from './operations';
export { formatRegText } from './reg-format';
export { parseRegFile, parseRegText, RegSyntaxError } from './reg-parser';
export { countOperations } from './summary';
export { decodeRegString, encodeRegString, RegType } from './values';

import type { RegOperation, RegOperationKind } from './operations';

/** How many operations of each kind, e.g. for `lamina layer inspect`. */
export function countOperations(operations: RegOperation[]): Record<RegOperationKind, number> {
  const counts: Record<RegOperationKind, number> = {
    createKey: 0,
    deleteKey: 0,
    setValue: 0,
    deleteValue: 0,
  };
  for (const op of operations) counts[op.kind]++;
  return counts;
}

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { findValue, HiveFile, RegistryHiveError, type StoredValue } from './hive';
import {
  type HiveName,
  locateOperation,
  RegistryRootError,
  resolveCurrentControlSet,
  usesCurrentControlSet,
} from './hive-mapping';
import type { RegOperation, SetValueOperation } from './operations';
import { isSystemEnvironmentKey, mergeListValue } from './path-merge';
import { RegType } from './values';

export interface ApplyOptions {
  /** The hive `hivePath` is; every operation must belong to it (see splitOperationsByHive). */
  hive: HiveName;
}

export interface ApplySummary {
  keysCreated: number;
  keysDeleted: number;
  valuesSet: number;
  /** Values of the system environment merged as `;`-lists rather than replaced. */
  valuesMerged: number;
  valuesDeleted: number;
}

/**
 * Applies .reg operations, in order, to the hive file at `hivePath`: keys (and their missing
 * parents) are created, values set with their exact type and bytes, values and key trees
 * deleted, `;`-list values of the system environment merged. The hive is rewritten only when
 * everything succeeded, through a temporary file renamed over it, so a failure leaves the
 * original file as it was.
 */
export async function applyRegistryChanges(
  hivePath: string,
  operations: RegOperation[],
  options: ApplyOptions,
): Promise<ApplySummary> {
  const located = operations.map((op) => {
    const key = locateOperation(op);
    if (key.hive !== options.hive) {
      throw new RegistryRootError(
        `${op.file}:${op.line}: ${op.key} is in the ${key.hive} hive, not ${options.hive}`,
      );
    }
    return { op, path: key.path };
  });

  const hive = HiveFile.open(hivePath, { writable: true });
  try {
    const editor = new HiveEditor(hive, options.hive);
    for (const { op, path: keyPath } of located) editor.apply(op, keyPath);
    editor.flushValues();
    await commitReplacing(hive, hivePath);
    return editor.summary;
  } finally {
    hive.close();
  }
}

async function commitReplacing(hive: HiveFile, hivePath: string): Promise<void> {
  const temporary = path.join(
    path.dirname(hivePath),
    `.${path.basename(hivePath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    hive.commit(temporary);
    await fs.rename(temporary, hivePath);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

/** The values of one key, read once and written once for a run of value operations on it. */
interface PendingValues {
  node: number;
  identity: string;
  inEnvironment: boolean;
  values: StoredValue[];
}

class HiveEditor {
  readonly summary: ApplySummary = {
    keysCreated: 0,
    keysDeleted: 0,
    valuesSet: 0,
    valuesMerged: 0,
    valuesDeleted: 0,
  };
  private pending: PendingValues | undefined;
  private currentControlSet: number | undefined;

  constructor(
    private readonly hive: HiveFile,
    private readonly hiveName: HiveName,
  ) {}

  apply(op: RegOperation, pathInHive: string[]): void {
    const keyPath = this.resolve(pathInHive);
    switch (op.kind) {
      case 'createKey':
        this.flushValues();
        this.summary.keysCreated += this.hive.ensureKey(keyPath).created;
        return;
      case 'deleteKey':
        this.deleteKey(op, keyPath);
        return;
      case 'setValue':
        this.setValue(op, keyPath);
        return;
      case 'deleteValue':
        this.deleteValue(this.valuesOf(keyPath), op.name);
        return;
    }
  }

  flushValues(): void {
    if (this.pending) this.hive.setValues(this.pending.node, this.pending.values);
    this.pending = undefined;
  }

  private deleteKey(op: RegOperation, keyPath: string[]): void {
    if (keyPath.length === 0) {
      throw new RegistryRootError(
        `${op.file}:${op.line}: refusing to delete the root key of the ${this.hiveName} hive`,
      );
    }
    this.flushValues();
    const node = this.hive.findKey(keyPath);
    if (node === undefined) return;
    this.hive.deleteKey(node);
    this.summary.keysDeleted++;
  }

  /**
   * The pending values of `keyPath`, creating the key if needed: a value line always follows
   * its [KEY] line, which creates the key in regedit too.
   */
  private valuesOf(keyPath: string[]): PendingValues {
    const identity = keyPath.join('\\').toUpperCase();
    if (this.pending?.identity === identity) return this.pending;
    this.flushValues();
    const { node, created } = this.hive.ensureKey(keyPath);
    this.summary.keysCreated += created;
    const inEnvironment = this.hiveName === 'SYSTEM' && isSystemEnvironmentKey(keyPath);
    const values = this.hive.values(node);
    for (const value of values) this.refuseBigData(value, `${this.hive.path}: key ${keyPath.join('\\')}`);
    this.pending = { node, identity, inEnvironment, values };
    return this.pending;
  }

  private setValue(op: SetValueOperation, keyPath: string[]): void {
    this.refuseBigData(op, `${op.file}:${op.line}`);
    const pending = this.valuesOf(keyPath);
    const index = findValue(pending.values, op.name);
    const existing = index === -1 ? undefined : pending.values[index];
    const incoming = { type: op.type, data: op.data };
    const merged = pending.inEnvironment ? mergeListValue(op.name, existing, incoming) : undefined;
    if (merged) this.summary.valuesMerged++;
    else this.summary.valuesSet++;
    // Windows keeps a value's original spelling when it is overwritten under another case.
    const value = { ...(merged ?? incoming), name: existing?.name ?? op.name };
    if (index === -1) pending.values.push(value);
    else pending.values[index] = value;
  }

  /**
   * From format 1.4 on, Windows reads data longer than 16344 bytes as a "big data" (db) list of
   * segments, which hivex cannot write: it would store one plain cell that Windows misreads.
   * This holds for values we set and for existing ones, since a key's values are rewritten
   * together. `where` says where the value comes from.
   */
  private refuseBigData(value: StoredValue, where: string): void {
    const BIG_DATA_THRESHOLD = 16344;
    if (this.hive.minorVersion >= 4 && value.data.length > BIG_DATA_THRESHOLD) {
      throw new RegistryHiveError(
        `${where}: value ${JSON.stringify(value.name)} has ${value.data.length} bytes; ` +
          `hives of format 1.${this.hive.minorVersion} need big-data cells for more than ${BIG_DATA_THRESHOLD}, ` +
          'which hivex cannot write',
      );
    }
  }

  private deleteValue(pending: PendingValues, name: string): void {
    const index = findValue(pending.values, name);
    if (index === -1) return;
    pending.values.splice(index, 1);
    this.summary.valuesDeleted++;
  }

  private resolve(pathInHive: string[]): string[] {
    if (this.hiveName !== 'SYSTEM' || !usesCurrentControlSet(pathInHive)) return pathInHive;
    this.currentControlSet ??= currentControlSetOf(this.hive);
    return resolveCurrentControlSet(pathInHive, this.currentControlSet);
  }
}

/**
 * The number N of the SYSTEM hive's current ControlSet00N (its REG_DWORD Select\Current), for
 * findRegistryConflicts' currentControlSet option.
 */
export function readCurrentControlSet(systemHivePath: string): number {
  const hive = HiveFile.open(systemHivePath, { writable: false });
  try {
    return currentControlSetOf(hive);
  } finally {
    hive.close();
  }
}

function currentControlSetOf(hive: HiveFile): number {
  const current = hive.readValue(['Select'], 'Current');
  if (!current || current.type !== RegType.DWORD || current.data.length !== 4) {
    throw new RegistryHiveError(
      `${hive.path}: no REG_DWORD Select\\Current, so CurrentControlSet cannot be resolved`,
    );
  }
  return current.data.readUInt32LE();
}

import { closeSync, openSync, readSync } from 'node:fs';
import { loadNativeAddon } from '../lib/native-addon';

/**
 * One open hive file, over the hivex binding (native/registry/hive.cc). Adds what hivex lacks
 * for our use: key paths, Windows' case-insensitive names beyond ASCII, and errors that name
 * the hive file.
 */

/** A value as stored: its name ('' = default), raw 32-bit type and exact bytes. */
export interface StoredValue {
  name: string;
  type: number;
  data: Buffer;
}

/** Node handles are hivex offsets; 0 means "no such key". */
type NodeHandle = number;

interface NativeHive {
  root(): NodeHandle;
  child(node: NodeHandle, name: string): NodeHandle;
  children(node: NodeHandle): NodeHandle[];
  name(node: NodeHandle): string;
  addChild(node: NodeHandle, name: string): NodeHandle;
  deleteChild(node: NodeHandle): void;
  values(node: NodeHandle): StoredValue[];
  setValues(node: NodeHandle, values: StoredValue[]): void;
  commit(path: string): void;
  close(): void;
}

interface RegistryAddon {
  Hive: new (path: string, writable: boolean) => NativeHive;
}

let addon: RegistryAddon | undefined;

/** A hive file that is missing, is not a hive, or is damaged. The message names the file. */
export class RegistryHiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryHiveError';
  }
}

export class HiveFile {
  /** Format version 1.N of the file (3 = XP era, 5 = Windows 10/11). */
  readonly minorVersion: number;

  private constructor(
    readonly path: string,
    private readonly native: NativeHive,
  ) {
    this.minorVersion = readMinorVersion(path);
  }

  /** Opens `path`; for writing, changes stay in memory until commit(). */
  static open(path: string, options: { writable: boolean }): HiveFile {
    addon ??= loadNativeAddon<RegistryAddon>('lamina_registry');
    const { Hive } = addon;
    try {
      return new HiveFile(path, new Hive(path, options.writable));
    } catch (error) {
      throw new RegistryHiveError(
        `${path} is not a usable registry hive: hivex cannot open it (${messageOf(error)})`,
      );
    }
  }

  get root(): NodeHandle {
    return this.guard(() => this.native.root());
  }

  /** The key at `path` below the root, or undefined if some part of it does not exist. */
  findKey(path: string[]): NodeHandle | undefined {
    let node = this.root;
    for (const name of path) {
      const child = this.findChild(node, name);
      if (child === undefined) return undefined;
      node = child;
    }
    return node;
  }

  /** The key at `path`, creating it and any missing parents; `created` counts new keys. */
  ensureKey(path: string[]): { node: NodeHandle; created: number } {
    let node = this.root;
    let created = 0;
    for (const name of path) {
      const child = this.findChild(node, name);
      if (child !== undefined) {
        node = child;
      } else {
        node = this.guard(() => this.native.addChild(node, name));
        created++;
      }
    }
    return { node, created };
  }

  /** Removes a key with all its subkeys and values. */
  deleteKey(node: NodeHandle): void {
    this.guard(() => this.native.deleteChild(node));
  }

  /** The value `name` of the key at `path`, if both exist. */
  readValue(path: string[], name: string): StoredValue | undefined {
    const node = this.findKey(path);
    if (node === undefined) return undefined;
    const values = this.values(node);
    return values[findValue(values, name)];
  }

  /** The subkeys of a key, in the hive's order. */
  subkeys(node: NodeHandle): NodeHandle[] {
    return this.guard(() => this.native.children(node));
  }

  /** A key's own name, as stored. */
  keyName(node: NodeHandle): string {
    return this.guard(() => this.native.name(node));
  }

  values(node: NodeHandle): StoredValue[] {
    return this.guard(() => this.native.values(node));
  }

  /** Replaces all values of the key with `values`. */
  setValues(node: NodeHandle, values: StoredValue[]): void {
    this.guard(() => this.native.setValues(node, values));
  }

  /** Writes the edited hive to `path` (any file; the opened one is not touched unless named). */
  commit(path: string): void {
    this.guard(() => this.native.commit(path));
  }

  close(): void {
    this.native.close();
  }

  /**
   * Windows compares key names case-insensitively over all of Unicode; hivex's lookup only
   * folds ASCII, so names with other characters are compared here.
   */
  private findChild(node: NodeHandle, name: string): NodeHandle | undefined {
    if (/^[\x20-\x7e]*$/.test(name)) {
      const child = this.guard(() => this.native.child(node, name));
      return child === 0 ? undefined : child;
    }
    const wanted = name.toUpperCase();
    return this.guard(() => this.native.children(node)).find(
      (child) => this.guard(() => this.native.name(child)).toUpperCase() === wanted,
    );
  }

  /** hivex validates structures as it walks them, so failures after opening mean damage. */
  private guard<T>(call: () => T): T {
    try {
      return call();
    } catch (error) {
      throw new RegistryHiveError(`${this.path} is a damaged registry hive: ${messageOf(error)}`);
    }
  }
}

/** Index of the value called `name` in `values`, or -1; value names are case-insensitive. */
export function findValue(values: StoredValue[], name: string): number {
  const wanted = name.toUpperCase();
  return values.findIndex((value) => value.name.toUpperCase() === wanted);
}

function readMinorVersion(path: string): number {
  const header = Buffer.alloc(0x1c);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  return header.readUInt32LE(0x18);
}

/** Errors from the addon are plain objects with a message when the caller runs in another realm (jest's vm). */
function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}

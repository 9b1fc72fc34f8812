/**
 * What a .reg file asks for, one operation per key line or value line, in file order.
 * Keys are full paths as written (`HKEY_LOCAL_MACHINE\SOFTWARE\Vendor`); value names are ''
 * for the default value (`@`). `file` and `line` say where the operation came from, so errors
 * raised long after parsing (unknown root, conflicts) can still point at the source.
 */

interface Source {
  file: string;
  line: number;
}

/** `[KEY]`: the key exists afterwards (with its parents), even when no value follows. */
export interface CreateKeyOperation extends Source {
  kind: 'createKey';
  key: string;
}

/** `[-KEY]`: the key and its whole subtree are removed (nothing happens if it is absent). */
export interface DeleteKeyOperation extends Source {
  kind: 'deleteKey';
  key: string;
}

/** `"name"=data`: the value is set to exactly this type and these bytes. */
export interface SetValueOperation extends Source {
  kind: 'setValue';
  key: string;
  name: string;
  type: number;
  data: Buffer;
}

/** `"name"=-`: the value is removed (nothing happens if it is absent). */
export interface DeleteValueOperation extends Source {
  kind: 'deleteValue';
  key: string;
  name: string;
}

export type RegOperation = CreateKeyOperation | DeleteKeyOperation | SetValueOperation | DeleteValueOperation;

export type RegOperationKind = RegOperation['kind'];

export interface ParsedRegFile {
  file: string;
  /** Header of the file: `Windows Registry Editor Version 5.00` or `REGEDIT4`. */
  version: 'REGEDIT5' | 'REGEDIT4';
  operations: RegOperation[];
}

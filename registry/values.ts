/**
 * Registry value types and the byte encodings the hive stores, as regedit writes them.
 * A value is always kept as (type number, exact bytes): hives store any 32-bit type and any
 * bytes, and Lamina must reproduce them exactly.
 */

export const RegType = {
  NONE: 0,
  SZ: 1,
  EXPAND_SZ: 2,
  BINARY: 3,
  DWORD: 4,
  DWORD_BIG_ENDIAN: 5,
  LINK: 6,
  MULTI_SZ: 7,
  RESOURCE_LIST: 8,
  FULL_RESOURCE_DESCRIPTOR: 9,
  RESOURCE_REQUIREMENTS_LIST: 10,
  QWORD: 11,
} as const;

/** A string as stored in a hive: UTF-16LE with a terminating NUL. */
export function encodeRegString(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf16le');
}

/** The text of a stored string: UTF-16LE up to the first NUL (or the end, for unterminated data). */
export function decodeRegString(data: Uint8Array): string {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength - (data.byteLength % 2)).toString(
    'utf16le',
  );
  const nul = text.indexOf('\0');
  return nul === -1 ? text : text.slice(0, nul);
}

/** True for the two string types whose text can be read and merged. */
export function isStringType(type: number): boolean {
  return type === RegType.SZ || type === RegType.EXPAND_SZ;
}

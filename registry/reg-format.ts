import type { RegOperation } from './operations';
import { decodeRegString, encodeRegString, RegType } from './values';

/**
 * Writes operations as a `Windows Registry Editor Version 5.00` file, the way regedit exports:
 * strings as "text" when that round-trips exactly, DWORDs as dword:, everything else as
 * hex(N): bytes wrapped at 80 columns. parseRegText(formatRegText(ops)) gives back the same
 * operations (keys, names, types and bytes).
 */
export function formatRegText(operations: RegOperation[]): string {
  const lines = ['Windows Registry Editor Version 5.00'];
  let currentKey: string | undefined;
  for (const op of operations) {
    if (op.kind === 'createKey' || op.kind === 'deleteKey') {
      lines.push('', op.kind === 'deleteKey' ? `[-${op.key}]` : `[${op.key}]`);
      currentKey = op.kind === 'createKey' ? op.key : undefined;
      continue;
    }
    if (op.key !== currentKey) {
      lines.push('', `[${op.key}]`);
      currentKey = op.key;
    }
    const name = op.name === '' ? '@' : quoted(op.name);
    lines.push(op.kind === 'deleteValue' ? `${name}=-` : formatValueLine(name, op.type, op.data));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function quoted(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function formatValueLine(name: string, type: number, data: Buffer): string {
  if (type === RegType.SZ && isPlainString(data)) return `${name}=${quoted(decodeRegString(data))}`;
  if (type === RegType.DWORD && data.length === 4) {
    return `${name}=dword:${data.readUInt32LE().toString(16).padStart(8, '0')}`;
  }
  const prefix = type === RegType.BINARY ? 'hex:' : `hex(${type.toString(16)}):`;
  return wrapHex(
    `${name}=${prefix}`,
    [...data].map((byte) => byte.toString(16).padStart(2, '0')),
  );
}

/** A REG_SZ can be written as "text" only if reading the text back yields the same bytes. */
function isPlainString(data: Buffer): boolean {
  const text = decodeRegString(data);
  return !/[\r\n]/.test(text) && encodeRegString(text).equals(data);
}

/** regedit's layout: lines of at most 80 characters, ending in ",\", continued after two spaces. */
function wrapHex(lead: string, bytes: string[]): string {
  const WIDTH = 80;
  let line = lead;
  const lines: string[] = [];
  bytes.forEach((byte, i) => {
    const item = i < bytes.length - 1 ? `${byte},` : byte;
    if (line.length + item.length > WIDTH - 1 && i > 0) {
      lines.push(`${line}\\`);
      line = '  ';
    }
    line += item;
  });
  lines.push(line);
  return lines.join('\r\n');
}

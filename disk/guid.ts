/**
 * GUIDs as Microsoft stores them (VHDX, GPT): the first three fields little-endian, the last
 * eight bytes as written. Text form is the usual upper-case 8-4-4-4-12.
 */
export function guidToBytes(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a GUID: ${text}`);
  const raw = Buffer.from(hex, 'hex');
  const out = Buffer.from(raw);
  out.writeUInt32LE(raw.readUInt32BE(0), 0);
  out.writeUInt16LE(raw.readUInt16BE(4), 4);
  out.writeUInt16LE(raw.readUInt16BE(6), 6);
  return out;
}

export function guidFromBytes(data: Buffer, offset = 0): string {
  const bytes = data.subarray(offset, offset + 16);
  const raw = Buffer.from(bytes);
  raw.writeUInt32BE(bytes.readUInt32LE(0), 0);
  raw.writeUInt16BE(bytes.readUInt16LE(4), 4);
  raw.writeUInt16BE(bytes.readUInt16LE(6), 6);
  const h = raw.toString('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

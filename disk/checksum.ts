import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 (IEEE, as in GPT), computed by zlib. */
export function crc32(data: Buffer): number {
  return zlibCrc32(data) >>> 0;
}

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as MS-VHDX requires; only used on small headers. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC32C_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

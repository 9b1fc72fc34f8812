import { promises as fs } from 'node:fs';

/**
 * Writes the smallest registry hive ("regf" file) that hivex and Windows accept: a base block,
 * one 4 KiB hive bin holding the root key (nk), the security cell (sk) every key must point
 * to, and a free cell for the rest of the bin. hivex can edit hives but not create one, so the
 * synthetic gold image starts from this.
 *
 * Layout reference: the regf format as documented by the Windows registry forensics community
 * (base block 4096 bytes, hive bins of 4 KiB multiples, cells with a signed 32-bit size).
 */

const BASE_BLOCK_SIZE = 4096;
const HIVE_BIN_SIZE = 4096;
const HIVE_BIN_HEADER_SIZE = 32;
/** Offsets inside a hive are relative to the first hive bin; "no cell" is all ones. */
const NO_CELL = 0xffffffff;

/** Root key flags: KEY_HIVE_ENTRY (it is a hive root) | KEY_NO_DELETE | KEY_COMP_NAME (ASCII name). */
const ROOT_KEY_FLAGS = 0x0004 | 0x0008 | 0x0020;

export interface EmptyHiveOptions {
  /**
   * Last-written time stamped into the base block, the hive bin and the root key. Defaults to
   * the Windows epoch (FILETIME 0) so that the same call always yields the same bytes: the
   * compositor promises byte-identical images for identical inputs.
   */
  lastWritten?: Date;
}

/** Creates (or overwrites) `path` with an empty hive whose root key is named `rootName`. */
export async function createEmptyHive(
  path: string,
  rootName: string,
  options: EmptyHiveOptions = {},
): Promise<void> {
  await fs.writeFile(path, emptyHiveBytes(rootName, options));
}

/** The bytes of an empty hive; see createEmptyHive. */
export function emptyHiveBytes(rootName: string, options: EmptyHiveOptions = {}): Buffer {
  // KEY_COMP_NAME stores the name as one byte per character, so the name must be Latin-1.
  if (rootName.length === 0 || rootName.length > 255 || !/^[\x20-\x5b\x5d-\xff]+$/.test(rootName)) {
    throw new Error(
      `invalid hive root key name ${JSON.stringify(rootName)}: 1-255 Latin-1 characters, no '\\'`,
    );
  }
  const filetime = toFiletime(options.lastWritten ?? new Date(Date.UTC(1601, 0, 1)));
  const hive = Buffer.alloc(BASE_BLOCK_SIZE + HIVE_BIN_SIZE);
  const bin = hive.subarray(BASE_BLOCK_SIZE);

  const rootOffset = HIVE_BIN_HEADER_SIZE;
  const rootCell = rootKeyCell(rootName, filetime);
  const securityOffset = rootOffset + rootCell.length;
  const securityCell = securityCellBytes(securityOffset);
  rootCell.writeUInt32LE(securityOffset, 4 + 0x2c);
  const freeOffset = securityOffset + securityCell.length;

  writeHiveBinHeader(bin, filetime);
  rootCell.copy(bin, rootOffset);
  securityCell.copy(bin, securityOffset);
  // Every byte of a bin belongs to some cell; a positive size marks the remainder as free.
  bin.writeInt32LE(HIVE_BIN_SIZE - freeOffset, freeOffset);

  writeBaseBlock(hive.subarray(0, BASE_BLOCK_SIZE), rootOffset, rootName, filetime);
  return hive;
}

function writeBaseBlock(block: Buffer, rootOffset: number, rootName: string, filetime: bigint): void {
  block.write('regf', 0, 'latin1');
  block.writeUInt32LE(1, 0x04); // primary sequence number
  block.writeUInt32LE(1, 0x08); // secondary sequence number: equal to the primary = cleanly written
  block.writeBigUInt64LE(filetime, 0x0c);
  block.writeUInt32LE(1, 0x14); // major version
  block.writeUInt32LE(3, 0x18); // minor version 3: readable by every NT since XP
  block.writeUInt32LE(0, 0x1c); // file type: primary hive file
  block.writeUInt32LE(1, 0x20); // file format: direct memory load
  block.writeUInt32LE(rootOffset, 0x24);
  block.writeUInt32LE(HIVE_BIN_SIZE, 0x28); // total size of the hive bins
  block.writeUInt32LE(1, 0x2c); // clustering factor
  // The file name field holds the last 31 UTF-16 characters of the hive's path, for debugging.
  block.write(rootName.slice(-31), 0x30, 'utf16le');
  block.writeUInt32LE(baseBlockChecksum(block), 0x1fc);
}

/** XOR of the first 127 dwords, with 0 and -1 remapped because they mean "not computed". */
function baseBlockChecksum(block: Buffer): number {
  let sum = 0;
  for (let offset = 0; offset < 0x1fc; offset += 4) sum ^= block.readUInt32LE(offset);
  sum >>>= 0;
  if (sum === 0xffffffff) return 0xfffffffe;
  if (sum === 0) return 1;
  return sum;
}

function writeHiveBinHeader(bin: Buffer, filetime: bigint): void {
  bin.write('hbin', 0, 'latin1');
  bin.writeUInt32LE(0, 0x04); // offset of this bin from the first bin
  bin.writeUInt32LE(HIVE_BIN_SIZE, 0x08);
  bin.writeBigUInt64LE(filetime, 0x14);
}

/** An allocated cell: negative size (including the 4-byte size field), padded to 8 bytes. */
function allocatedCell(payload: Buffer): Buffer {
  const size = Math.ceil((payload.length + 4) / 8) * 8;
  const cell = Buffer.alloc(size);
  cell.writeInt32LE(-size, 0);
  payload.copy(cell, 4);
  return cell;
}

function rootKeyCell(rootName: string, filetime: bigint): Buffer {
  const name = Buffer.from(rootName, 'latin1');
  const nk = Buffer.alloc(0x4c + name.length);
  nk.write('nk', 0, 'latin1');
  nk.writeUInt16LE(ROOT_KEY_FLAGS, 0x02);
  nk.writeBigUInt64LE(filetime, 0x04);
  nk.writeUInt32LE(NO_CELL, 0x10); // parent: a hive root has none
  nk.writeUInt32LE(NO_CELL, 0x1c); // subkey list (0 subkeys)
  nk.writeUInt32LE(NO_CELL, 0x20); // volatile subkey list
  nk.writeUInt32LE(NO_CELL, 0x28); // value list (0 values)
  nk.writeUInt32LE(NO_CELL, 0x2c); // security cell, patched once its offset is known
  nk.writeUInt32LE(NO_CELL, 0x30); // class name
  nk.writeUInt16LE(name.length, 0x48);
  name.copy(nk, 0x4c);
  return allocatedCell(nk);
}

/**
 * The security cell shared by the root and, through hivex's inheritance, every key it adds.
 * It is the only sk in the hive, so its list links point to itself.
 */
function securityCellBytes(ownOffset: number): Buffer {
  const descriptor = defaultKeySecurityDescriptor();
  const sk = Buffer.alloc(0x14 + descriptor.length);
  sk.write('sk', 0, 'latin1');
  sk.writeUInt32LE(ownOffset, 0x04); // next sk
  sk.writeUInt32LE(ownOffset, 0x08); // previous sk
  sk.writeUInt32LE(1, 0x0c); // reference count: the root key
  sk.writeUInt32LE(descriptor.length, 0x10);
  descriptor.copy(sk, 0x14);
  return allocatedCell(sk);
}

const SID_LOCAL_SYSTEM = [5, 18];
const SID_ADMINISTRATORS = [5, 32, 544];
const SID_USERS = [5, 32, 545];
const KEY_ALL_ACCESS = 0x000f003f;
const KEY_READ = 0x00020019;

/**
 * Self-relative security descriptor equivalent to SDDL
 * O:BAG:SYD:P(A;CI;KA;;;SY)(A;CI;KA;;;BA)(A;CI;KR;;;BU): SYSTEM and Administrators have full
 * control, Users may read, inherited by subkeys — what Windows puts on a fresh machine hive.
 */
function defaultKeySecurityDescriptor(): Buffer {
  const aces = [
    inheritedAllowAce(KEY_ALL_ACCESS, SID_LOCAL_SYSTEM),
    inheritedAllowAce(KEY_ALL_ACCESS, SID_ADMINISTRATORS),
    inheritedAllowAce(KEY_READ, SID_USERS),
  ];
  const aclHeader = Buffer.alloc(8);
  const aclSize = 8 + aces.reduce((n, a) => n + a.length, 0);
  aclHeader.writeUInt8(2, 0); // ACL revision
  aclHeader.writeUInt16LE(aclSize, 2);
  aclHeader.writeUInt16LE(aces.length, 4);
  const dacl = Buffer.concat([aclHeader, ...aces]);
  const owner = sid(SID_ADMINISTRATORS);
  const group = sid(SID_LOCAL_SYSTEM);

  const SE_DACL_PRESENT = 0x0004;
  const SE_DACL_PROTECTED = 0x1000;
  const SE_SELF_RELATIVE = 0x8000;
  const header = Buffer.alloc(20);
  header.writeUInt8(1, 0); // revision
  header.writeUInt16LE(SE_DACL_PRESENT | SE_DACL_PROTECTED | SE_SELF_RELATIVE, 2);
  header.writeUInt32LE(20, 4); // owner
  header.writeUInt32LE(20 + owner.length, 8); // group
  header.writeUInt32LE(0, 12); // no SACL
  header.writeUInt32LE(20 + owner.length + group.length, 16); // DACL
  return Buffer.concat([header, owner, group, dacl]);
}

/** An ACCESS_ALLOWED_ACE granting `mask` to the SID, inherited by subkeys (CONTAINER_INHERIT_ACE). */
function inheritedAllowAce(mask: number, sidParts: number[]): Buffer {
  const sidBytes = sid(sidParts);
  const header = Buffer.alloc(8);
  header.writeUInt8(0, 0); // ACCESS_ALLOWED_ACE_TYPE
  header.writeUInt8(0x02, 1); // CONTAINER_INHERIT_ACE
  header.writeUInt16LE(8 + sidBytes.length, 2);
  header.writeUInt32LE(mask, 4);
  return Buffer.concat([header, sidBytes]);
}

/** A binary SID S-1-<authority>-<sub authorities...>; `parts` = [authority, ...subAuthorities]. */
function sid(parts: number[]): Buffer {
  const [authority, ...subAuthorities] = parts;
  const bytes = Buffer.alloc(8 + 4 * subAuthorities.length);
  bytes.writeUInt8(1, 0); // revision
  bytes.writeUInt8(subAuthorities.length, 1);
  bytes.writeUIntBE(authority, 2, 6);
  subAuthorities.forEach((value, i) => bytes.writeUInt32LE(value, 8 + 4 * i));
  return bytes;
}

/** 100-ns intervals since 1601-01-01 UTC. */
function toFiletime(date: Date): bigint {
  const EPOCH_DIFFERENCE_MS = 11644473600000n;
  return (BigInt(date.getTime()) + EPOCH_DIFFERENCE_MS) * 10000n;
}

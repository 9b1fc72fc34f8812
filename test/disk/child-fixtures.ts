import { promises as fs } from 'node:fs';
import { guidFromBytes, guidToBytes } from '../../disk/guid';

/**
 * Differencing VHD and VHDX files for the parent-chain tests. qemu-img makes VMDK children
 * (`create -b`) but refuses a backing file for vpc and vhdx, and no Hyper-V runs here, so these
 * turn a dynamic disk qemu-img wrote (holding the child's blocks) into a child of another disk
 * qemu-img wrote, the way the specifications lay a child out: the parent's identity, a locator
 * with its relative path, and optionally one block whose sectors are partly the parent's.
 */

const MIB = 1024 * 1024;

/** Sectors of one block that stay the child's when the block is made partly present. */
export interface PartialBlock {
  block: number;
  /** First sector (within the block) and count the child keeps; the rest reads as the parent. */
  firstSector: number;
  sectors: number;
}

async function patch(file: string, offset: number, data: Buffer): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
  } finally {
    await handle.close();
  }
}

async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const out = Buffer.alloc(length);
    await handle.read(out, 0, length, offset);
    return out;
  } finally {
    await handle.close();
  }
}

// ---- VHD (Virtual Hard Disk Image Format Specification, "Differencing Hard Disk Image") ----

function vhdChecksum(structure: Buffer, at: number): number {
  let sum = 0;
  for (let i = 0; i < structure.length; i++) if (i < at || i >= at + 4) sum += structure[i];
  return ~sum >>> 0;
}

/** Makes the dynamic VHD `child` a differencing disk of `parent` (named by `relativePath` from the child). */
export async function makeVhdChild(
  child: string,
  parent: string,
  relativePath: string,
  partial?: PartialBlock,
): Promise<void> {
  const parentFooter = await readAt(parent, (await fs.stat(parent)).size - 512, 512);
  const size = (await fs.stat(child)).size;
  const footer = await readAt(child, size - 512, 512);
  footer.writeUInt32BE(4, 60); // differencing
  footer.writeUInt32BE(vhdChecksum(footer, 64), 64);
  const headerAt = Number(footer.readBigUInt64BE(16));
  const header = await readAt(child, headerAt, 1024);
  parentFooter.copy(header, 40, 68, 84); // parent unique id
  const name = Buffer.from(relativePath.replace(/^.*\\/, ''), 'utf16le').swap16();
  header.fill(0, 64, 576);
  name.copy(header, 64);
  // Locator 0: W2ru, the relative path in UTF-16LE, in a sector where the footer was.
  const locator = Buffer.from(relativePath, 'utf16le');
  header.write('W2ru', 576, 'latin1');
  header.writeUInt32BE(1, 580);
  header.writeUInt32BE(locator.length, 584);
  header.writeBigUInt64BE(BigInt(size - 512), 592);
  header.writeUInt32BE(vhdChecksum(header, 36), 36);
  if (partial) {
    const batAt = Number(header.readBigUInt64BE(16));
    const sector = (await readAt(child, batAt + partial.block * 4, 4)).readUInt32BE(0);
    const bitmap = Buffer.alloc(512);
    // Most significant bit first: bit 7 of byte 0 is the block's first sector.
    for (let s = partial.firstSector; s < partial.firstSector + partial.sectors; s++)
      bitmap[s >> 3] |= 0x80 >> (s & 7);
    await patch(child, sector * 512, bitmap);
  }
  const sectorOfLocator = Buffer.alloc(512);
  locator.copy(sectorOfLocator);
  await patch(child, 0, footer);
  await patch(child, headerAt, header);
  await patch(child, size - 512, sectorOfLocator);
  await patch(child, size, footer);
}

// ---- VHDX ([MS-VHDX]: parent locator 2.6.2.6, sector bitmap blocks 2.5.1.2) ----

const BAT_REGION = '2DC27766-F623-4200-9D64-115E9BFD4A08';
const METADATA_REGION = '8B7CA206-4790-4B9A-B8FE-575F050F886E';
const FILE_PARAMETERS = 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B';
const PARENT_LOCATOR = 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C';
const LOCATOR_TYPE = 'B04AEFB7-D19E-4A81-B789-25B8E9445913';

/** The data write GUID of the VHDX's current header (the one with the higher sequence number). */
export async function vhdxDataWriteGuid(file: string): Promise<string> {
  const headers = [await readAt(file, 64 * 1024, 4096), await readAt(file, 128 * 1024, 4096)];
  const current = headers[0].readBigUInt64LE(8) >= headers[1].readBigUInt64LE(8) ? headers[0] : headers[1];
  if (!current.subarray(48, 64).equals(Buffer.alloc(16))) throw new Error(`${file}: has a log to replay`);
  return guidFromBytes(current, 32);
}

async function vhdxRegions(file: string): Promise<{ bat: number; metadata: number }> {
  const table = await readAt(file, 192 * 1024, 64 * 1024);
  const found: Record<string, number> = {};
  for (let i = 0; i < table.readUInt32LE(8); i++)
    found[guidFromBytes(table, 16 + i * 32)] = Number(table.readBigUInt64LE(16 + i * 32 + 16));
  return { bat: found[BAT_REGION], metadata: found[METADATA_REGION] };
}

function locatorItem(entries: [string, string][]): Buffer {
  const header = Buffer.alloc(20 + entries.length * 12);
  guidToBytes(LOCATOR_TYPE).copy(header, 0);
  header.writeUInt16LE(entries.length, 18);
  const strings: Buffer[] = [];
  let at = header.length;
  entries.forEach(([key, value], i) => {
    const k = Buffer.from(key, 'utf16le');
    const v = Buffer.from(value, 'utf16le');
    header.writeUInt32LE(at, 20 + i * 12);
    header.writeUInt32LE(at + k.length, 20 + i * 12 + 4);
    header.writeUInt16LE(k.length, 20 + i * 12 + 8);
    header.writeUInt16LE(v.length, 20 + i * 12 + 10);
    strings.push(k, v);
    at += k.length + v.length;
  });
  return Buffer.concat([header, ...strings]);
}

/**
 * Makes the dynamic VHDX `child` (1 MiB blocks, one chunk) a differencing disk of `parent`, linked
 * by `linkage` (the parent's data write GUID, or another to make a mismatch).
 */
export async function makeVhdxChild(
  child: string,
  relativePath: string,
  linkage: string,
  partial?: PartialBlock,
): Promise<void> {
  const { bat, metadata } = await vhdxRegions(child);
  const table = await readAt(child, metadata, 64 * 1024);
  const count = table.readUInt16LE(10);
  let free = 64 * 1024;
  for (let i = 0; i < count; i++) {
    const e = 32 + i * 32;
    free = Math.max(free, table.readUInt32LE(e + 16) + table.readUInt32LE(e + 20));
    if (guidFromBytes(table, e) === FILE_PARAMETERS) {
      const params = await readAt(child, metadata + table.readUInt32LE(e + 16), 8);
      params.writeUInt32LE(params.readUInt32LE(4) | 2, 4); // HasParent
      await patch(child, metadata + table.readUInt32LE(e + 16), params);
    }
  }
  const item = locatorItem([
    ['parent_linkage', `{${linkage.toLowerCase()}}`],
    ['relative_path', relativePath],
  ]);
  const e = 32 + count * 32;
  guidToBytes(PARENT_LOCATOR).copy(table, e);
  table.writeUInt32LE(free, e + 16);
  table.writeUInt32LE(item.length, e + 20);
  table.writeUInt32LE(4, e + 24); // IsRequired
  table.writeUInt16LE(count + 1, 10);
  await patch(child, metadata, table);
  await patch(child, metadata + free, item);
  // qemu-img convert marks the blocks it found zero ZERO, which in a child hides the parent's:
  // a child holds only what was written, the rest is NOT_PRESENT.
  const entries = await readAt(child, bat, 4096 * 8);
  for (let i = 0; i < 4096; i++)
    if ((entries.readUInt32LE(i * 8) & 7) === 2) entries.writeBigUInt64LE(0n, i * 8);
  await patch(child, bat, entries);
  if (partial) {
    // Payload entry state 7, and the chunk's sector bitmap block (entry 4096 for 1 MiB blocks) at the end.
    const entry = await readAt(child, bat + partial.block * 8, 8);
    entry.writeUInt32LE((entry.readUInt32LE(0) & ~7) | 7, 0);
    await patch(child, bat + partial.block * 8, entry);
    const bitmapAt = Math.ceil((await fs.stat(child)).size / MIB) * MIB;
    const bitmap = Buffer.alloc(MIB);
    const first = partial.block * 2048 + partial.firstSector;
    for (let s = first; s < first + partial.sectors; s++) bitmap[s >> 3] |= 1 << (s & 7);
    await patch(child, bitmapAt, bitmap);
    const sbEntry = Buffer.alloc(8);
    sbEntry.writeBigUInt64LE((BigInt(bitmapAt / MIB) << 20n) | 6n);
    await patch(child, bat + 4096 * 8, sbEntry);
  }
}

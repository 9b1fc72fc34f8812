/**
 * VHD (Microsoft Virtual Hard Disk Image Format Specification 1.0): fixed and dynamic disks.
 * All fields are big-endian. A fixed disk is the raw data plus a 512-byte footer; a dynamic disk
 * is footer copy, dynamic header, BAT, then blocks (512-byte sector bitmap + data), then the footer.
 */
import { AllocatingWriter } from '../allocating-writer';
import { assertBlocksPlaced, BlockMappedDisk } from '../block-mapped-disk';
import { BlockTable } from '../block-table';
import type { DiskDriver } from '../driver';
import { DiskFormatError } from '../errors';
import { InputFile, OutputFile, Segment } from '../file-io';
import { DiskIdentity } from '../identity';
import type { ParentLink } from '../parent-chain';
import { DiskWriter, roundUp, SECTOR_SIZE, VirtualDisk } from '../types';
import { FlatDisk, FlatWriter } from './raw';

const FOOTER_SIZE = 512;
const DYNAMIC_HEADER_SIZE = 1024;
const FOOTER_COOKIE = 'conectix';
const DYNAMIC_COOKIE = 'cxsparse';
const FORMAT_VERSION = 0x00010000;
const NO_DATA_OFFSET = 0xffffffffffffffffn;
const UNALLOCATED = 0xffffffff;
const DISK_TYPE = { fixed: 2, dynamic: 3, differencing: 4 } as const;
/** Hyper-V's and qemu's block size; the sector bitmap for it is exactly one sector. */
const BLOCK_SIZE = 2 * 1024 * 1024;
const BITMAP_SIZE = roundUp(BLOCK_SIZE / SECTOR_SIZE / 8, SECTOR_SIZE);
/** The specification's ceiling (2040 GiB); past it the CHS and 32-bit BAT offsets stop working. */
export const VHD_MAX_SIZE = 2040 * 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

function isVhd(head: Buffer, tail: Buffer): boolean {
  return (
    tail.subarray(tail.length - FOOTER_SIZE, tail.length - FOOTER_SIZE + 8).toString('latin1') ===
      FOOTER_COOKIE || head.subarray(0, 8).toString('latin1') === FOOTER_COOKIE
  );
}

/** The specification's CHS algorithm (appendix "CHS calculation"). */
export function chsGeometry(size: number): { cylinders: number; heads: number; sectorsPerTrack: number } {
  const totalSectors = Math.min(Math.floor(size / SECTOR_SIZE), 65535 * 16 * 255);
  let sectorsPerTrack: number;
  let heads: number;
  let cylinderTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024));
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack };
}

/** Ones' complement of the byte sum, with the checksum field itself counted as zero. */
function vhdChecksum(structure: Buffer, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < structure.length; i++) {
    if (i < checksumOffset || i >= checksumOffset + 4) sum += structure[i];
  }
  return ~sum >>> 0;
}

function buildFooter(diskType: number, size: number, dataOffset: bigint, identity: DiskIdentity): Buffer {
  const f = Buffer.alloc(FOOTER_SIZE);
  f.write(FOOTER_COOKIE, 0, 'latin1');
  f.writeUInt32BE(2, 8); // "reserved" feature bit the specification requires set
  f.writeUInt32BE(FORMAT_VERSION, 12);
  f.writeBigUInt64BE(dataOffset, 16);
  f.writeUInt32BE(identity.secondsSince(VHD_EPOCH_MS), 24);
  // Creator "win " tells qemu and other readers to trust current_size rather than CHS geometry.
  f.write('win ', 28, 'latin1');
  f.writeUInt32BE(0x000a0000, 32);
  f.write('Wi2k', 36, 'latin1');
  f.writeBigUInt64BE(BigInt(size), 40);
  f.writeBigUInt64BE(BigInt(size), 48);
  const chs = chsGeometry(size);
  f.writeUInt16BE(chs.cylinders, 56);
  f.writeUInt8(chs.heads, 58);
  f.writeUInt8(chs.sectorsPerTrack, 59);
  f.writeUInt32BE(diskType, 60);
  identity.bytes('vhd unique id', 16).copy(f, 68);
  f.writeUInt32BE(vhdChecksum(f, 64), 64);
  return f;
}

/** The footer that follows `size` bytes of data in a fixed VHD (an Azure page blob is written as one). */
export function fixedVhdFooter(size: number, identity: DiskIdentity): Buffer {
  return buildFooter(DISK_TYPE.fixed, size, NO_DATA_OFFSET, identity);
}

interface Footer {
  diskType: number;
  currentSize: number;
  dataOffset: bigint;
  /** What a child names this disk by: `vhd:` and the footer's unique id. */
  linkId: string;
}

function parseFooter(file: InputFile, f: Buffer, at: number): Footer {
  const fail = (offset: number, detail: string) =>
    new DiskFormatError(file.path, 'VHD footer', at + offset, detail);
  if (f.subarray(0, 8).toString('latin1') !== FOOTER_COOKIE)
    throw fail(0, `cookie is not "${FOOTER_COOKIE}"`);
  const stored = f.readUInt32BE(64);
  if (stored !== vhdChecksum(f, 64))
    throw fail(64, `checksum 0x${stored.toString(16)} does not match the contents`);
  const version = f.readUInt32BE(12);
  if (version >>> 16 !== 1) throw fail(12, `unsupported format version 0x${version.toString(16)}`);
  const diskType = f.readUInt32BE(60);
  if (!(Object.values(DISK_TYPE) as number[]).includes(diskType))
    throw fail(60, `unknown disk type ${diskType}`);
  const currentSize = Number(f.readBigUInt64BE(48));
  if (currentSize > VHD_MAX_SIZE || currentSize % SECTOR_SIZE !== 0)
    throw fail(48, `absurd disk size ${currentSize}`);
  return {
    diskType,
    currentSize,
    dataOffset: f.readBigUInt64BE(16),
    linkId: `vhd:${f.toString('hex', 68, 84)}`,
  };
}

async function openVhd(file: InputFile): Promise<VirtualDisk> {
  if (file.size < FOOTER_SIZE)
    throw new DiskFormatError(
      file.path,
      'VHD footer',
      0,
      `file is ${file.size} bytes, shorter than a footer`,
    );
  const footerAt = file.size - FOOTER_SIZE;
  const footer = parseFooter(file, await file.readStructure('VHD footer', footerAt, FOOTER_SIZE), footerAt);
  if (footer.diskType === DISK_TYPE.fixed) {
    if (footer.currentSize > footerAt)
      throw new DiskFormatError(
        file.path,
        'VHD footer',
        footerAt + 48,
        `disk size ${footer.currentSize} exceeds the ${footerAt} data bytes in the file`,
      );
    return FlatDisk.open(file, 'vhd-fixed', footer.currentSize);
  }
  // Dynamic and differencing disks share the layout; a differencing one also names its parent.
  return openDynamic(file, footer, footerAt);
}

async function openDynamic(file: InputFile, footer: Footer, footerAt: number): Promise<VirtualDisk> {
  const headerAt = Number(footer.dataOffset);
  if (footer.dataOffset === NO_DATA_OFFSET || headerAt + DYNAMIC_HEADER_SIZE > footerAt) {
    throw new DiskFormatError(
      file.path,
      'VHD footer',
      footerAt + 16,
      `dynamic header offset ${footer.dataOffset} lies outside the file`,
    );
  }
  const h = await file.readStructure('VHD dynamic header', headerAt, DYNAMIC_HEADER_SIZE);
  const fail = (offset: number, detail: string) =>
    new DiskFormatError(file.path, 'VHD dynamic header', headerAt + offset, detail);
  if (h.subarray(0, 8).toString('latin1') !== DYNAMIC_COOKIE)
    throw fail(0, `cookie is not "${DYNAMIC_COOKIE}"`);
  if (h.readUInt32BE(36) !== vhdChecksum(h, 36))
    throw fail(36, `checksum 0x${h.readUInt32BE(36).toString(16)} does not match the contents`);
  const tableAt = Number(h.readBigUInt64BE(16));
  const entries = h.readUInt32BE(28);
  const blockSize = h.readUInt32BE(32);
  if (blockSize < SECTOR_SIZE || blockSize > 256 * MIB || (blockSize & (blockSize - 1)) !== 0)
    throw fail(32, `block size ${blockSize} is not a power of two between 512 and 256 MiB`);
  const blocks = Math.ceil(footer.currentSize / blockSize);
  if (entries < blocks)
    throw fail(
      28,
      `${entries} BAT entries cannot cover ${footer.currentSize} bytes of ${blockSize}-byte blocks`,
    );
  if (tableAt < FOOTER_SIZE || tableAt + entries * 4 > footerAt)
    throw fail(16, `BAT of ${entries} entries at ${tableAt} lies outside the file`);

  const bat = await file.readStructure('VHD BAT', tableAt, blocks * 4);
  const table = new BlockTable(blocks);
  const bitmapSize = roundUp(blockSize / SECTOR_SIZE / 8, SECTOR_SIZE);
  for (let b = 0; b < blocks; b++) {
    const sector = bat.readUInt32BE(b * 4);
    if (sector !== UNALLOCATED) table.set(b, sector * SECTOR_SIZE + bitmapSize);
  }
  // Blocks must sit past the BAT and, bitmap included, before the footer.
  assertBlocksPlaced(file, table, {
    tableName: 'VHD BAT',
    entryOffset: (b) => tableAt + b * 4,
    blockBytes: blockSize,
    leadingBytes: bitmapSize,
    dataStart: tableAt + entries * 4,
    dataEnd: footerAt,
  });
  const child =
    footer.diskType === DISK_TYPE.differencing
      ? {
          link: await parentLink(file, h, headerAt, footerAt),
          zeroBlocks: new Set<number>(),
          partialBlocks: await partialBlocks(file, table, blockSize, bitmapSize),
        }
      : undefined;
  return new BlockMappedDisk(
    'vhd',
    file,
    footer.currentSize,
    blockSize,
    table,
    SECTOR_SIZE,
    child,
    footer.linkId,
  );
}

/**
 * A differencing VHD's parent: its unique id (at 40 of the dynamic header), its file name (at 64,
 * UTF-16BE) and up to eight locators (at 576, 24 bytes each: platform code, space, length, offset)
 * pointing at paths stored elsewhere in the file. W2ru is a relative Windows path and W2ku an
 * absolute one, both UTF-16LE; Wi2r and Wi2k are their older one-byte forms; MacX is a file URL.
 */
async function parentLink(
  file: InputFile,
  h: Buffer,
  headerAt: number,
  footerAt: number,
): Promise<ParentLink> {
  const relative: string[] = [];
  const absolute: string[] = [];
  for (let i = 0; i < 8; i++) {
    const e = 576 + i * 24;
    const code = h.toString('latin1', e, e + 4);
    const length = h.readUInt32BE(e + 8);
    const offset = Number(h.readBigUInt64BE(e + 16));
    if (code === '\0\0\0\0' || length === 0) continue;
    if (offset + length > footerAt)
      throw new DiskFormatError(
        file.path,
        `VHD parent locator ${i}`,
        headerAt + e,
        `${length} bytes at ${offset} lie outside the file`,
      );
    const data = await file.readStructure(`VHD parent locator ${i}`, offset, length);
    if (code === 'W2ru') relative.push(data.toString('utf16le'));
    else if (code === 'W2ku') absolute.push(data.toString('utf16le'));
    else if (code === 'Wi2r') relative.push(data.toString('latin1'));
    else if (code === 'Wi2k') absolute.push(data.toString('latin1'));
    else if (code === 'MacX')
      absolute.push(decodeURI(data.toString('utf8').replace(/^file:\/\/(localhost)?/, '')));
  }
  const name = swapUtf16(h.subarray(64, 576)).toString('utf16le').replace(/\0.*$/s, '');
  return {
    structure: 'VHD dynamic header',
    offset: headerAt + 40,
    locations: [...relative, ...absolute, ...(name ? [name] : [])].map((p) => p.replace(/\0+$/, '')),
    linkId: `vhd:${h.toString('hex', 40, 56)}`,
    linkName: 'unique id',
  };
}

/** UTF-16BE as UTF-16LE, for Node's decoder. */
function swapUtf16(data: Buffer): Buffer {
  const out = Buffer.from(data);
  return out.swap16();
}

/**
 * A differencing VHD's blocks that are only partly its own: each block's sector bitmap (most
 * significant bit first, set = the child's sector) as ChildBlocks keeps them, least significant
 * first. A block whose every sector is the child's is a plain block.
 */
async function partialBlocks(
  file: InputFile,
  table: BlockTable,
  blockSize: number,
  bitmapSize: number,
): Promise<Map<number, Buffer>> {
  const partial = new Map<number, Buffer>();
  const used = blockSize / SECTOR_SIZE / 8;
  for (const [block, dataAt] of table.entries()) {
    const bitmap = (
      await file.readStructure(`VHD sector bitmap of block ${block}`, dataAt - bitmapSize, bitmapSize)
    ).subarray(0, used);
    if (bitmap.every((byte) => byte === 0xff)) continue;
    partial.set(block, Buffer.from(bitmap.map(reverseBits)));
  }
  return partial;
}

function reverseBits(byte: number): number {
  let out = 0;
  for (let i = 0; i < 8; i++) out |= ((byte >> i) & 1) << (7 - i);
  return out;
}

const BAT_AT = FOOTER_SIZE + DYNAMIC_HEADER_SIZE;

class VhdDynamicWriter extends AllocatingWriter {
  private static readonly BITMAP = Buffer.alloc(BITMAP_SIZE, 0xff);

  constructor(
    out: OutputFile,
    virtualSize: number,
    private readonly identity: DiskIdentity,
  ) {
    super('vhd', out, virtualSize, {
      blockSize: BLOCK_SIZE,
      prefix: BITMAP_SIZE,
      prefixContent: VhdDynamicWriter.BITMAP,
      firstBlockAt: BAT_AT + roundUp(Math.ceil(virtualSize / BLOCK_SIZE) * 4, SECTOR_SIZE),
      // BAT entries are 32-bit sector numbers.
      maxFileSize: 2 ** 32 * SECTOR_SIZE,
    });
  }

  protected async writeMetadata(): Promise<void> {
    const footer = buildFooter(DISK_TYPE.dynamic, this.virtualSize, BigInt(FOOTER_SIZE), this.identity);
    const header = Buffer.alloc(DYNAMIC_HEADER_SIZE);
    header.write(DYNAMIC_COOKIE, 0, 'latin1');
    header.writeBigUInt64BE(NO_DATA_OFFSET, 8);
    header.writeBigUInt64BE(BigInt(BAT_AT), 16);
    header.writeUInt32BE(FORMAT_VERSION, 24);
    header.writeUInt32BE(this.table.blockCount, 28);
    header.writeUInt32BE(BLOCK_SIZE, 32);
    header.writeUInt32BE(vhdChecksum(header, 36), 36);
    const bat = Buffer.alloc(roundUp(this.table.blockCount * 4, SECTOR_SIZE), 0xff);
    for (const [block, dataAt] of this.table.entries())
      bat.writeUInt32BE((dataAt - BITMAP_SIZE) / SECTOR_SIZE, block * 4);
    // Each block's sector bitmap in front of it, every sector marked present: a block is
    // zero-filled when allocated, so all of it is valid data. Most went out with their block.
    const bitmaps: Segment[] = [];
    for (const [, dataAt] of this.blocksWithoutPrefix())
      bitmaps.push({ fileOffset: dataAt - BITMAP_SIZE, data: VhdDynamicWriter.BITMAP });
    await this.out.writeSegments([
      { fileOffset: 0, data: footer },
      { fileOffset: FOOTER_SIZE, data: header },
      { fileOffset: BAT_AT, data: bat },
      ...bitmaps,
    ]);
    await this.out.writeAt(footer, this.nextFree);
  }
}

async function createVhdWriter(
  path: string,
  virtualSize: number,
  fixed: boolean,
  identity: DiskIdentity,
): Promise<DiskWriter> {
  // Azure accepts only fixed VHDs of a whole number of MiB; the padding reads as zeros.
  const size = fixed ? roundUp(virtualSize, MIB) : roundUp(virtualSize, SECTOR_SIZE);
  if (size > VHD_MAX_SIZE)
    throw new RangeError(`VHD cannot hold ${virtualSize} bytes (the format's maximum is 2040 GiB); use vhdx`);
  if (fixed) return FlatWriter.create('vhd-fixed', path, size, () => fixedVhdFooter(size, identity));
  return new VhdDynamicWriter(await OutputFile.create(path), size, identity);
}

/** Dynamic VHD; its reader opens fixed VHDs too (the footer's disk type tells them apart). */
export const vhdDriver: DiskDriver = {
  name: 'vhd',
  reader: { probe: (head, tail, size) => size >= FOOTER_SIZE && isVhd(head, tail), open: openVhd },
  createWriter: (path, options, identity) => createVhdWriter(path, options.virtualSize, false, identity),
  blockMapped: true,
};

/** Fixed VHD: the raw data and a footer, as Azure takes it. Read by vhdDriver. */
export const vhdFixedDriver: DiskDriver = {
  name: 'vhd-fixed',
  createWriter: (path, options, identity) => createVhdWriter(path, options.virtualSize, true, identity),
  blockMapped: false,
};

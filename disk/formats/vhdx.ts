/**
 * VHDX ([MS-VHDX] v1): dynamic disks. Little-endian. Layout Lamina writes, all 1 MiB aligned:
 * file identifier + two headers + two region tables (first MiB), log (1 MiB, empty),
 * metadata region (1 MiB), BAT, then payload blocks in the order they were first written.
 */
import * as nodePath from 'node:path';
import { AllocatingWriter } from '../allocating-writer';
import { assertBlocksPlaced, BlockMappedDisk } from '../block-mapped-disk';
import { BlockTable } from '../block-table';
import { crc32c } from '../checksum';
import { DifferencingWriter } from '../differencing-writer';
import type { DiskDriver } from '../driver';
import { DiskFormatError } from '../errors';
import { InputFile, OutputFile } from '../file-io';
import { guidFromBytes, guidToBytes } from '../guid';
import { DiskIdentity } from '../identity';
import type { ParentLink } from '../parent-chain';
import { replayLog } from './vhdx-log';
import { DiskWriter, roundUp, SECTOR_SIZE, VirtualDisk, WriterOptions } from '../types';

const KIB = 1024;
const MIB = 1024 * KIB;
const FILE_ID_SIGNATURE = 'vhdxfile';
const HEADER_OFFSETS = [64 * KIB, 128 * KIB];
const HEADER_SIZE = 4 * KIB;
const REGION_TABLE_OFFSETS = [192 * KIB, 256 * KIB];
const REGION_TABLE_SIZE = 64 * KIB;
const METADATA_TABLE_SIZE = 64 * KIB;
const MAX_TABLE_ENTRIES = 2047;
/** The specification's ceiling on the virtual size. */
export const VHDX_MAX_SIZE = 64 * 1024 * 1024 * MIB;
/** Hyper-V's default block size. */
const DEFAULT_BLOCK_SIZE = 32 * MIB;
/** The block size Hyper-V gives a differencing disk: a guest's small write copies up 2 MiB, not 32. */
const CHILD_BLOCK_SIZE = 2 * MIB;

const REGION = {
  bat: '2DC27766-F623-4200-9D64-115E9BFD4A08',
  metadata: '8B7CA206-4790-4B9A-B8FE-575F050F886E',
};
const ITEM = {
  fileParameters: 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B',
  virtualDiskSize: '2FA54224-CD1B-4876-B211-5DBED83BF4B8',
  virtualDiskId: 'BECA12AB-B2E6-4523-93EF-C309E000C746',
  logicalSectorSize: '8141BF1D-A96F-4709-BA47-F233A8FAAB5F',
  physicalSectorSize: 'CDA348C7-445D-4471-9CC9-E9885251C556',
  parentLocator: 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C',
};
const ITEM_FLAG = { virtualDisk: 2, required: 4 };
/**
 * BAT payload states. Without a parent everything but FULLY_PRESENT reads as zeros; in a
 * differencing disk NOT_PRESENT and UNDEFINED read as the parent, ZERO and UNMAPPED as zeros, and
 * PARTIALLY_PRESENT per sector, as the chunk's sector bitmap says.
 */
const PAYLOAD = { notPresent: 0, undefined: 1, zero: 2, unmapped: 3, fullyPresent: 6, partiallyPresent: 7 };
/** A sector bitmap block's BAT state when it is stored. */
const SECTOR_BITMAP_PRESENT = 6;
const PARENT_LOCATOR_TYPE = 'B04AEFB7-D19E-4A81-B789-25B8E9445913';

function isVhdx(head: Buffer): boolean {
  return head.subarray(0, 8).toString('latin1') === FILE_ID_SIGNATURE;
}

/** CRC-32C of a structure whose checksum field (at byte 4) counts as zero. */
function structureChecksum(structure: Buffer): number {
  const copy = Buffer.from(structure);
  copy.writeUInt32LE(0, 4);
  return crc32c(copy);
}

function sealChecksum(structure: Buffer): Buffer {
  structure.writeUInt32LE(structureChecksum(structure), 4);
  return structure;
}

/** Payload blocks per chunk: one sector-bitmap BAT entry follows every `chunkRatio` payload entries. */
function chunkRatio(logicalSectorSize: number, blockSize: number): number {
  return (2 ** 23 * logicalSectorSize) / blockSize;
}

function batIndex(block: number, ratio: number): number {
  return block + Math.floor(block / ratio);
}

function batEntryCount(blocks: number, ratio: number): number {
  return blocks === 0 ? 0 : batIndex(blocks - 1, ratio) + 1;
}

interface Region {
  offset: number;
  length: number;
}

async function openVhdx(file: InputFile): Promise<VirtualDisk> {
  const fileId = await file.readStructure('VHDX file identifier', 0, 8);
  if (fileId.toString('latin1') !== FILE_ID_SIGNATURE)
    throw new DiskFormatError(
      file.path,
      'VHDX file identifier',
      0,
      `signature is not "${FILE_ID_SIGNATURE}"`,
    );
  const { log, dataWriteGuid } = await readCurrentHeader(file);
  const regions = await readRegionTable(file);
  const meta = await readMetadata(file, regions.metadata);
  const child = meta.parent && {
    link: meta.parent,
    zeroBlocks: new Set<number>(),
    partialBlocks: new Map<number, Buffer>(),
  };

  const blocks = Math.ceil(meta.virtualSize / meta.blockSize);
  const ratio = chunkRatio(meta.logicalSectorSize, meta.blockSize);
  // A differencing disk's BAT has every chunk's sector bitmap entry, the last chunk's too.
  const entries = meta.parent ? Math.ceil(blocks / ratio) * (ratio + 1) : batEntryCount(blocks, ratio);
  if (entries * 8 > regions.bat.length) {
    throw new DiskFormatError(
      file.path,
      'VHDX BAT region',
      regions.bat.offset,
      `${regions.bat.length} bytes cannot hold the ${entries} entries a ${meta.virtualSize}-byte disk needs`,
    );
  }
  const bat = await file.readStructure('VHDX BAT', regions.bat.offset, entries * 8);
  const table = new BlockTable(blocks);
  const sectorBitmaps = new SectorBitmaps(file, bat, regions.bat.offset, meta, ratio);
  for (let block = 0; block < blocks; block++) {
    const at = batIndex(block, ratio) * 8;
    const low = bat.readUInt32LE(at);
    const state = low & 7;
    const fail = (detail: string) =>
      new DiskFormatError(file.path, `VHDX BAT entry ${block}`, regions.bat.offset + at, detail);
    if (state === PAYLOAD.partiallyPresent && !child)
      throw fail('payload state 7 (partially present) in a disk without a parent');
    if (state > PAYLOAD.unmapped && state !== PAYLOAD.fullyPresent && state !== PAYLOAD.partiallyPresent)
      throw fail(`payload state ${state} is not defined`);
    if (child && (state === PAYLOAD.zero || state === PAYLOAD.unmapped)) child.zeroBlocks.add(block);
    if (state !== PAYLOAD.fullyPresent && state !== PAYLOAD.partiallyPresent) continue;
    const offset = (bat.readUInt32LE(at + 4) * 2 ** 12 + (low >>> 20)) * MIB;
    // Offset 0 would mean "unallocated" in the block table; it holds the file identifier, so it is corrupt.
    if (offset === 0) throw fail('block at 0 overlaps the file header');
    table.set(block, offset);
    if (child && state === PAYLOAD.partiallyPresent)
      child.partialBlocks.set(block, await sectorBitmaps.ofBlock(block));
  }
  assertBlocksPlaced(file, table, {
    tableName: 'VHDX BAT',
    entryOffset: (b) => regions.bat.offset + batIndex(b, ratio) * 8,
    blockBytes: meta.blockSize,
    leadingBytes: 0,
    dataStart: MIB,
    dataEnd: file.size,
    reserved: [
      { name: 'log', ...log },
      { name: 'metadata region', ...regions.metadata },
      { name: 'BAT region', ...regions.bat },
    ],
  });
  return new BlockMappedDisk(
    'vhdx',
    file,
    meta.virtualSize,
    meta.blockSize,
    table,
    meta.logicalSectorSize,
    child,
    `vhdx:${dataWriteGuid}`,
  );
}

/**
 * A differencing VHDX's sector bitmaps: one 1 MiB block per chunk (its BAT entry follows the
 * chunk's payload entries), one bit per sector of the chunk, least significant bit first, set
 * where the sector is this disk's. Read once per chunk that has partially present blocks.
 */
class SectorBitmaps {
  private readonly chunks = new Map<number, Buffer>();

  constructor(
    private readonly file: InputFile,
    private readonly bat: Buffer,
    private readonly batOffset: number,
    private readonly meta: Metadata,
    private readonly ratio: number,
  ) {}

  /** The bits of `block`'s sectors. */
  async ofBlock(block: number): Promise<Buffer> {
    const chunk = Math.floor(block / this.ratio);
    const bitmap = this.chunks.get(chunk) ?? (await this.readChunk(chunk));
    const bytesPerBlock = this.meta.blockSize / this.meta.logicalSectorSize / 8;
    const from = (block % this.ratio) * bytesPerBlock;
    return Buffer.from(bitmap.subarray(from, from + bytesPerBlock));
  }

  private async readChunk(chunk: number): Promise<Buffer> {
    const at = (chunk * (this.ratio + 1) + this.ratio) * 8;
    const where = `VHDX BAT sector bitmap entry ${chunk}`;
    if (at + 8 > this.bat.length)
      throw new DiskFormatError(this.file.path, where, this.batOffset + at, 'lies past the end of the BAT');
    const low = this.bat.readUInt32LE(at);
    if ((low & 7) !== SECTOR_BITMAP_PRESENT)
      throw new DiskFormatError(
        this.file.path,
        where,
        this.batOffset + at,
        `chunk ${chunk} has partially present blocks but no sector bitmap (state ${low & 7})`,
      );
    const offset = (this.bat.readUInt32LE(at + 4) * 2 ** 12 + (low >>> 20)) * MIB;
    const bitmap = await this.file.readStructure(`VHDX sector bitmap of chunk ${chunk}`, offset, MIB);
    this.chunks.set(chunk, bitmap);
    return bitmap;
  }
}

/**
 * Picks the valid header with the higher sequence number and replays its log, if any; returns
 * where the log lives.
 */
async function readCurrentHeader(file: InputFile): Promise<{ log: Region; dataWriteGuid: string }> {
  let current: { header: Buffer; at: number; sequence: bigint } | undefined;
  const problems: string[] = [];
  for (const at of HEADER_OFFSETS) {
    const header = await file.readStructure('VHDX header', at, HEADER_SIZE);
    if (header.subarray(0, 4).toString('latin1') !== 'head')
      problems.push(`signature at ${at} is not "head"`);
    else if (header.readUInt32LE(4) !== structureChecksum(header))
      problems.push(`CRC-32C at ${at + 4} does not match`);
    else {
      const sequence = header.readBigUInt64LE(8);
      if (!current || sequence > current.sequence) current = { header, at, sequence };
    }
  }
  if (!current)
    throw new DiskFormatError(
      file.path,
      'VHDX header',
      HEADER_OFFSETS[0],
      `no valid header: ${problems.join('; ')}`,
    );
  const { header, at } = current;
  const version = header.readUInt16LE(66);
  if (version !== 1)
    throw new DiskFormatError(file.path, 'VHDX header', at + 66, `unsupported version ${version}`);
  const log = { offset: Number(header.readBigUInt64LE(72)), length: header.readUInt32LE(68) };
  // A zero log GUID means the log is empty; otherwise it may hold changes the file does not show yet.
  if (!isZeroGuid(header, 48)) await replayLog(file, header.subarray(48, 64), log, at);
  // What a child's parent_linkage names: it changes whenever the disk's data is written.
  return { log, dataWriteGuid: guidFromBytes(header, 32) };
}

function isZeroGuid(data: Buffer, offset: number): boolean {
  return data.subarray(offset, offset + 16).equals(Buffer.alloc(16));
}

async function readRegionTable(file: InputFile): Promise<{ bat: Region; metadata: Region }> {
  const at = REGION_TABLE_OFFSETS[0];
  let table = await file.readStructure('VHDX region table', at, REGION_TABLE_SIZE);
  let tableAt = at;
  if (!validRegionTable(table)) {
    // The second copy exists for exactly this case.
    tableAt = REGION_TABLE_OFFSETS[1];
    table = await file.readStructure('VHDX region table', tableAt, REGION_TABLE_SIZE);
    if (!validRegionTable(table))
      throw new DiskFormatError(
        file.path,
        'VHDX region table',
        at,
        'neither copy has the "regi" signature and a matching CRC-32C',
      );
  }
  const count = table.readUInt32LE(8);
  if (count > MAX_TABLE_ENTRIES)
    throw new DiskFormatError(
      file.path,
      'VHDX region table',
      tableAt + 8,
      `${count} entries (at most ${MAX_TABLE_ENTRIES})`,
    );
  const found: Partial<Record<'bat' | 'metadata', Region>> = {};
  for (let i = 0; i < count; i++) {
    const entryAt = 16 + i * 32;
    const guid = guidFromBytes(table, entryAt);
    const region = {
      offset: Number(table.readBigUInt64LE(entryAt + 16)),
      length: table.readUInt32LE(entryAt + 24),
    };
    const required = (table.readUInt32LE(entryAt + 28) & 1) === 1;
    const where = `VHDX region table entry ${i}`;
    const key = guid === REGION.bat ? 'bat' : guid === REGION.metadata ? 'metadata' : undefined;
    if (!key) {
      if (required)
        throw new DiskFormatError(file.path, where, tableAt + entryAt, `unknown required region ${guid}`);
      continue;
    }
    if (
      region.offset < MIB ||
      region.offset % MIB !== 0 ||
      region.length % MIB !== 0 ||
      region.offset + region.length > file.size
    ) {
      throw new DiskFormatError(
        file.path,
        where,
        tableAt + entryAt,
        `${key} region at ${region.offset} of ${region.length} bytes is misaligned or outside the ${file.size}-byte file`,
      );
    }
    found[key] = region;
  }
  if (!found.bat || !found.metadata)
    throw new DiskFormatError(
      file.path,
      'VHDX region table',
      tableAt,
      `missing the ${found.bat ? 'metadata' : 'BAT'} region`,
    );
  return { bat: found.bat, metadata: found.metadata };
}

function validRegionTable(table: Buffer): boolean {
  return (
    table.subarray(0, 4).toString('latin1') === 'regi' && table.readUInt32LE(4) === structureChecksum(table)
  );
}

interface Metadata {
  blockSize: number;
  virtualSize: number;
  logicalSectorSize: number;
  /** A differencing disk's parent, from its parent locator. */
  parent?: ParentLink;
}

async function readMetadata(file: InputFile, region: Region): Promise<Metadata> {
  const table = await file.readStructure('VHDX metadata table', region.offset, METADATA_TABLE_SIZE);
  if (table.subarray(0, 8).toString('latin1') !== 'metadata')
    throw new DiskFormatError(file.path, 'VHDX metadata table', region.offset, 'signature is not "metadata"');
  const count = table.readUInt16LE(10);
  if (count > MAX_TABLE_ENTRIES)
    throw new DiskFormatError(
      file.path,
      'VHDX metadata table',
      region.offset + 10,
      `${count} entries (at most ${MAX_TABLE_ENTRIES})`,
    );
  const items = new Map<string, { data: Buffer; entryAt: number; at: number }>();
  for (let i = 0; i < count; i++) {
    const entryAt = 32 + i * 32;
    const guid = guidFromBytes(table, entryAt);
    const offset = table.readUInt32LE(entryAt + 16);
    const length = table.readUInt32LE(entryAt + 20);
    const flags = table.readUInt32LE(entryAt + 24);
    const where = `VHDX metadata entry ${i}`;
    if (!Object.values(ITEM).includes(guid)) {
      if (flags & ITEM_FLAG.required)
        throw new DiskFormatError(
          file.path,
          where,
          region.offset + entryAt,
          `unknown required metadata item ${guid}`,
        );
      continue;
    }
    if (offset < METADATA_TABLE_SIZE || offset + length > region.length || length > 64 * KIB) {
      throw new DiskFormatError(
        file.path,
        where,
        region.offset + entryAt,
        `item of ${length} bytes at ${offset} lies outside the ${region.length}-byte metadata region`,
      );
    }
    items.set(guid, {
      data: await file.readStructure(`VHDX metadata item ${guid}`, region.offset + offset, length),
      entryAt: region.offset + entryAt,
      at: region.offset + offset,
    });
  }
  const item = (guid: string, name: string, minLength: number) => {
    const found = items.get(guid);
    if (!found)
      throw new DiskFormatError(
        file.path,
        'VHDX metadata table',
        region.offset,
        `required item "${name}" is missing`,
      );
    if (found.data.length < minLength)
      throw new DiskFormatError(
        file.path,
        `VHDX metadata item "${name}"`,
        found.entryAt,
        `${found.data.length} bytes, needs ${minLength}`,
      );
    return found;
  };
  const params = item(ITEM.fileParameters, 'file parameters', 8);
  const blockSize = params.data.readUInt32LE(0);
  if (blockSize < MIB || blockSize > 256 * MIB || (blockSize & (blockSize - 1)) !== 0)
    throw new DiskFormatError(
      file.path,
      'VHDX file parameters',
      params.entryAt,
      `block size ${blockSize} is not a power of two between 1 and 256 MiB`,
    );
  const hasParent = (params.data.readUInt32LE(4) & 2) !== 0;
  const locator = items.get(ITEM.parentLocator);
  if (hasParent !== (locator !== undefined))
    throw new DiskFormatError(
      file.path,
      'VHDX file parameters',
      params.entryAt,
      hasParent ? 'HasParent is set but there is no parent locator' : 'a parent locator without HasParent',
    );
  const sector = item(ITEM.logicalSectorSize, 'logical sector size', 4);
  const logicalSectorSize = sector.data.readUInt32LE(0);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096)
    throw new DiskFormatError(
      file.path,
      'VHDX logical sector size',
      sector.entryAt,
      `${logicalSectorSize} is neither 512 nor 4096`,
    );
  const size = item(ITEM.virtualDiskSize, 'virtual disk size', 8);
  const virtualSize = Number(size.data.readBigUInt64LE(0));
  if (virtualSize > VHDX_MAX_SIZE || virtualSize % logicalSectorSize !== 0)
    throw new DiskFormatError(
      file.path,
      'VHDX virtual disk size',
      size.entryAt,
      `absurd size ${virtualSize}`,
    );
  const parent = locator && parseParentLocator(file, locator.data, locator.at);
  return { blockSize, virtualSize, logicalSectorSize, ...(parent ? { parent } : {}) };
}

/**
 * The parent locator ([MS-VHDX] 2.6.2.6): a type GUID, then key/value pairs of UTF-16LE strings at
 * offsets from the item's start. parent_linkage (or parent_linkage2) is the parent's data write
 * GUID; relative_path, volume_path and absolute_win32_path say where it is.
 */
function parseParentLocator(file: InputFile, item: Buffer, at: number): ParentLink {
  const fail = (offset: number, detail: string) =>
    new DiskFormatError(file.path, 'VHDX parent locator', at + offset, detail);
  if (item.length < 20) throw fail(0, `${item.length} bytes, shorter than its header`);
  const type = guidFromBytes(item, 0);
  if (type !== PARENT_LOCATOR_TYPE) throw fail(0, `locator type ${type} is not the VHDX parent locator's`);
  const count = item.readUInt16LE(18);
  if (20 + count * 12 > item.length) throw fail(18, `${count} entries do not fit in ${item.length} bytes`);
  const text = (offset: number, length: number, entry: number) => {
    if (offset + length > item.length || length % 2 !== 0)
      throw fail(
        20 + entry * 12,
        `entry ${entry} points at ${length} bytes at ${offset}, outside the locator`,
      );
    return item.toString('utf16le', offset, offset + length);
  };
  const entries = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const e = 20 + i * 12;
    const key = text(item.readUInt32LE(e), item.readUInt16LE(e + 8), i);
    entries.set(key, text(item.readUInt32LE(e + 4), item.readUInt16LE(e + 10), i));
  }
  const linkage = entries.get('parent_linkage') ?? entries.get('parent_linkage2');
  if (!linkage) throw fail(0, 'no parent_linkage: which disk is the parent cannot be checked');
  const locations = ['relative_path', 'volume_path', 'absolute_win32_path']
    .map((key) => entries.get(key))
    .filter((value): value is string => value !== undefined);
  return {
    structure: 'VHDX parent locator',
    offset: at,
    locations,
    linkId: `vhdx:${linkage.replace(/[{}]/g, '').toUpperCase()}`,
    linkName: 'data write GUID',
  };
}

const LOG_OFFSET = MIB;
const LOG_LENGTH = MIB;
const METADATA_OFFSET = 2 * MIB;
const METADATA_LENGTH = MIB;
const BAT_OFFSET = 3 * MIB;

/**
 * Bytes of the BAT for a disk of `virtualSize`: whole MiB, so blocks after it stay MiB-aligned. A
 * differencing disk's has every chunk's sector bitmap entry, the last chunk's too.
 */
function batLengthFor(virtualSize: number, blockSize: number, differencing: boolean): number {
  const blocks = Math.ceil(virtualSize / blockSize);
  const ratio = chunkRatio(SECTOR_SIZE, blockSize);
  const entries = differencing ? Math.ceil(blocks / ratio) * (ratio + 1) : batEntryCount(blocks, ratio);
  return Math.max(MIB, roundUp(entries * 8, MIB));
}

/** What a differencing VHDX writer stores about its parent ([MS-VHDX] 2.6.2.6). */
interface ParentLocator {
  /** The parent's data write GUID. */
  linkage: string;
  /** The parent's path from the child's folder, Windows style (`.\base.vhdx`, `..\base\base.vhdx`). */
  relativePath: string;
  /** The parent's absolute path on this machine. */
  absolutePath: string;
}

/** A differencing VHDX writer's parent, and the blocks it marks as reading zeros (DifferencingWriter). */
interface ChildLayout {
  locator: ParentLocator;
  zeroBlocks: ReadonlySet<number>;
}

/**
 * The parent locator item: the VHDX locator type, then key/value pairs of UTF-16LE strings, as
 * Hyper-V writes them: parent_linkage with braces, relative_path with backslashes, and the absolute
 * path. On Windows that is absolute_win32_path (`\\?\d:\…`); the appliance stores its own absolute
 * path there, which parent-chain.ts follows and a Windows host, finding relative_path first, does not need.
 */
function parentLocatorItem(locator: ParentLocator): Buffer {
  const entries: [string, string][] = [
    ['parent_linkage', `{${locator.linkage}}`],
    ['relative_path', locator.relativePath],
    ['absolute_win32_path', locator.absolutePath],
  ];
  const header = Buffer.alloc(20 + entries.length * 12);
  guidToBytes(PARENT_LOCATOR_TYPE).copy(header, 0);
  header.writeUInt16LE(entries.length, 18);
  const strings: Buffer[] = [];
  let at = header.length;
  entries.forEach(([key, value], i) => {
    const k = Buffer.from(key, 'utf16le');
    const v = Buffer.from(value, 'utf16le');
    const entry = 20 + i * 12;
    header.writeUInt32LE(at, entry);
    header.writeUInt32LE(at + k.length, entry + 4);
    header.writeUInt16LE(k.length, entry + 8);
    header.writeUInt16LE(v.length, entry + 10);
    strings.push(k, v);
    at += k.length + v.length;
  });
  return Buffer.concat([header, ...strings]);
}

class VhdxWriter extends AllocatingWriter {
  private readonly ratio: number;
  private readonly batLength: number;

  constructor(
    out: OutputFile,
    virtualSize: number,
    private readonly identity: DiskIdentity,
    blockSize: number,
    private readonly child?: ChildLayout,
  ) {
    const batLength = batLengthFor(virtualSize, blockSize, child !== undefined);
    super('vhdx', out, virtualSize, {
      blockSize,
      prefix: 0,
      firstBlockAt: BAT_OFFSET + batLength,
      maxFileSize: Number.MAX_SAFE_INTEGER,
    });
    this.batLength = batLength;
    this.ratio = chunkRatio(SECTOR_SIZE, blockSize);
  }

  protected async writeMetadata(): Promise<void> {
    const fileId = Buffer.alloc(64 * KIB);
    fileId.write(FILE_ID_SIGNATURE, 0, 'latin1');
    fileId.write('Lamina', 8, 'utf16le');
    const headers = HEADER_OFFSETS.map((at, i) => ({ fileOffset: at, data: this.header(BigInt(i + 1)) }));
    const regionTable = this.regionTable();
    await this.out.writeSegments([
      { fileOffset: 0, data: fileId },
      ...headers,
      ...REGION_TABLE_OFFSETS.map((at) => ({ fileOffset: at, data: regionTable })),
      { fileOffset: METADATA_OFFSET, data: this.metadata() },
      { fileOffset: BAT_OFFSET, data: this.bat() },
    ]);
    await this.out.truncate(this.nextFree);
  }

  private header(sequence: bigint): Buffer {
    const h = Buffer.alloc(HEADER_SIZE);
    h.write('head', 0, 'latin1');
    h.writeBigUInt64LE(sequence, 8);
    this.identity.guid('vhdx file write guid').copy(h, 16);
    this.identity.guid('vhdx data write guid').copy(h, 32); // LogGuid at 48 stays zero: the log is empty
    h.writeUInt16LE(0, 64); // LogVersion
    h.writeUInt16LE(1, 66); // Version
    h.writeUInt32LE(LOG_LENGTH, 68);
    h.writeBigUInt64LE(BigInt(LOG_OFFSET), 72);
    return sealChecksum(h);
  }

  private regionTable(): Buffer {
    const t = Buffer.alloc(REGION_TABLE_SIZE);
    t.write('regi', 0, 'latin1');
    t.writeUInt32LE(2, 8);
    const entries: [string, number, number][] = [
      [REGION.bat, BAT_OFFSET, this.batLength],
      [REGION.metadata, METADATA_OFFSET, METADATA_LENGTH],
    ];
    entries.forEach(([guid, offset, length], i) => {
      const at = 16 + i * 32;
      guidToBytes(guid).copy(t, at);
      t.writeBigUInt64LE(BigInt(offset), at + 16);
      t.writeUInt32LE(length, at + 24);
      t.writeUInt32LE(1, at + 28); // required
    });
    return sealChecksum(t);
  }

  private metadata(): Buffer {
    const virtualDisk = ITEM_FLAG.virtualDisk | ITEM_FLAG.required;
    const fileParameters = Buffer.alloc(8);
    fileParameters.writeUInt32LE(this.layout.blockSize, 0);
    if (this.child) fileParameters.writeUInt32LE(2, 4); // HasParent
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(this.virtualSize));
    const sector = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const items: [string, number, Buffer][] = [
      [ITEM.fileParameters, ITEM_FLAG.required, fileParameters],
      [ITEM.virtualDiskSize, virtualDisk, size],
      [ITEM.virtualDiskId, virtualDisk, this.identity.guid('vhdx virtual disk id')],
      [ITEM.logicalSectorSize, virtualDisk, sector(SECTOR_SIZE)],
      [ITEM.physicalSectorSize, virtualDisk, sector(4096)],
    ];
    if (this.child)
      items.push([ITEM.parentLocator, ITEM_FLAG.required, parentLocatorItem(this.child.locator)]);
    const m = Buffer.alloc(METADATA_TABLE_SIZE + items.reduce((sum, [, , data]) => sum + data.length, 0));
    m.write('metadata', 0, 'latin1');
    m.writeUInt16LE(items.length, 10);
    let dataAt = METADATA_TABLE_SIZE;
    items.forEach(([guid, flags, data], i) => {
      const at = 32 + i * 32;
      guidToBytes(guid).copy(m, at);
      m.writeUInt32LE(dataAt, at + 16);
      m.writeUInt32LE(data.length, at + 20);
      m.writeUInt32LE(flags, at + 24);
      data.copy(m, dataAt);
      dataAt += data.length;
    });
    return m;
  }

  private bat(): Buffer {
    const bat = Buffer.alloc(this.batLength);
    // A child's blocks that read as zeros rather than as the parent; a block written since is present.
    for (const block of this.child?.zeroBlocks ?? [])
      bat.writeBigUInt64LE(BigInt(PAYLOAD.zero), batIndex(block, this.ratio) * 8);
    for (const [block, fileOffset] of this.table.entries()) {
      bat.writeBigUInt64LE(
        (BigInt(fileOffset / MIB) << 20n) | BigInt(PAYLOAD.fullyPresent),
        batIndex(block, this.ratio) * 8,
      );
    }
    return bat;
  }
}

async function createVhdxWriter(
  path: string,
  virtualSize: number,
  identity: DiskIdentity,
  blockSize = DEFAULT_BLOCK_SIZE,
  child?: ChildLayout,
): Promise<DiskWriter> {
  const size = roundUp(virtualSize, SECTOR_SIZE);
  if (size > VHDX_MAX_SIZE)
    throw new RangeError(`VHDX cannot hold ${virtualSize} bytes (the format's maximum is 64 TiB)`);
  if (blockSize < MIB || blockSize > 256 * MIB || (blockSize & (blockSize - 1)) !== 0)
    throw new RangeError(`VHDX block size ${blockSize} is not a power of two between 1 and 256 MiB`);
  return new VhdxWriter(await OutputFile.create(path), size, identity, blockSize, child);
}

/**
 * A differencing VHDX of `parent` (an opened VHDX, which the writer closes when done): it names the
 * parent by its data write GUID, relative path and absolute path, has the parent's size, and stores
 * the blocks written that differ from the parent (DifferencingWriter), in 2 MiB blocks by default.
 */
async function createDifferencingVhdxWriter(
  childPath: string,
  options: WriterOptions,
  identity: DiskIdentity,
  parent: VirtualDisk,
): Promise<DiskWriter> {
  const linkId = (parent as { linkId?: string }).linkId;
  if (parent.format !== 'vhdx' || !linkId?.startsWith('vhdx:'))
    throw new RangeError(
      `${parent.path}: a differencing VHDX needs a VHDX parent, and this is a ${parent.format} disk`,
    );
  if (roundUp(options.virtualSize, SECTOR_SIZE) !== parent.virtualSize)
    throw new RangeError(
      `a differencing VHDX has its parent's size: ${parent.path} holds ${parent.virtualSize} bytes, not ${options.virtualSize}`,
    );
  const parentPath = nodePath.resolve(parent.path);
  const relative = nodePath.relative(nodePath.dirname(nodePath.resolve(childPath)), parentPath);
  const locator = {
    linkage: linkId.slice('vhdx:'.length),
    relativePath: (relative.split(nodePath.sep)[0] === '..' ? relative : `.${nodePath.sep}${relative}`)
      .split(nodePath.sep)
      .join('\\'),
    absolutePath: parentPath,
  };
  const blockSize = options.blockSize ?? CHILD_BLOCK_SIZE;
  const zeroBlocks = new Set<number>();
  const inner = await createVhdxWriter(childPath, parent.virtualSize, identity, blockSize, {
    locator,
    zeroBlocks,
  });
  return new DifferencingWriter(inner, parent, blockSize, zeroBlocks);
}

export const vhdxDriver: DiskDriver = {
  name: 'vhdx',
  reader: { probe: isVhdx, open: openVhdx },
  createWriter: (path, options, identity) =>
    createVhdxWriter(path, options.virtualSize, identity, options.blockSize),
  createChildWriter: createDifferencingVhdxWriter,
  blockMapped: true,
};

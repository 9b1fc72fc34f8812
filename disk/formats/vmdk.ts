/**
 * VMDK hosted sparse extents (VMware "Virtual Disk Format 5.0"): monolithicSparse (version 1,
 * plain grains) and streamOptimized (version 3, deflated grains behind markers, tables at the end).
 * Little-endian. This module holds the header, the descriptor, the reader for both and the
 * monolithicSparse writer; the streamOptimized writer is in vmdk-stream.ts.
 */
import { promisify } from 'node:util';
import { inflate } from 'node:zlib';
import path from 'node:path';
import { AllocatingWriter } from '../allocating-writer';
import { assertBlocksPlaced, BlockMappedDisk } from '../block-mapped-disk';
import { BlockTable } from '../block-table';
import type { DiskDriver } from '../driver';
import { DiskFormatError } from '../errors';
import { InputFile, OutputFile } from '../file-io';
import { DiskIdentity } from '../identity';
import { DiskWriter, roundUp, SECTOR_SIZE, VirtualDisk } from '../types';

const MAGIC = 'KDMV';
export const HEADER_SIZE = 512;
export const GRAIN_SECTORS = 128;
export const GRAIN_BYTES = GRAIN_SECTORS * SECTOR_SIZE;
export const GTES_PER_GT = 512;
export const GT_BYTES = GTES_PER_GT * 4;
export const GD_AT_END = 0xffffffffffffffffn;
/** Descriptor space reserved after the header, in sectors (VMware and qemu use 20). */
export const DESCRIPTOR_SECTORS = 20;
/** Grain table entries are 32-bit sector numbers, so neither the file nor the disk may pass 2 TiB. */
export const VMDK_MAX_SIZE = 2 ** 32 * SECTOR_SIZE;
export const FLAG = { newlineTest: 1, redundantTables: 2, compressed: 1 << 16, markers: 1 << 17 };
export const MARKER = { eos: 0, gt: 1, gd: 2, footer: 3 };
const inflateAsync = promisify(inflate);

function isVmdk(head: Buffer): boolean {
  return (
    head.subarray(0, 4).toString('latin1') === MAGIC ||
    head.subarray(0, 21).toString('latin1') === '# Disk DescriptorFile'
  );
}

export interface SparseHeader {
  version: number;
  flags: number;
  capacitySectors: number;
  grainSectors: number;
  descriptorSector: number;
  descriptorSectors: number;
  gtesPerGt: number;
  redundantGdSector: number;
  gdSector: bigint;
  overheadSectors: number;
}

export function buildHeader(h: SparseHeader): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.write(MAGIC, 0, 'latin1');
  b.writeUInt32LE(h.version, 4);
  b.writeUInt32LE(h.flags, 8);
  b.writeBigUInt64LE(BigInt(h.capacitySectors), 12);
  b.writeBigUInt64LE(BigInt(h.grainSectors), 20);
  b.writeBigUInt64LE(BigInt(h.descriptorSector), 28);
  b.writeBigUInt64LE(BigInt(h.descriptorSectors), 36);
  b.writeUInt32LE(h.gtesPerGt, 44);
  b.writeBigUInt64LE(BigInt(h.redundantGdSector), 48);
  b.writeBigUInt64LE(h.gdSector, 56);
  b.writeBigUInt64LE(BigInt(h.overheadSectors), 64);
  // The line-ending probe lets readers detect a file mangled by a text-mode transfer.
  b.write('\n \r\n', 73, 'latin1');
  b.writeUInt16LE(h.flags & FLAG.compressed ? 1 : 0, 77);
  return b;
}

function parseHeader(file: InputFile, b: Buffer, at: number): SparseHeader {
  const fail = (offset: number, detail: string) =>
    new DiskFormatError(file.path, 'VMDK sparse header', at + offset, detail);
  if (b.subarray(0, 4).toString('latin1') !== MAGIC) throw fail(0, `magic is not "${MAGIC}"`);
  const u64 = (offset: number, what: string, max: number) => {
    const v = b.readBigUInt64LE(offset);
    if (v > BigInt(max)) throw fail(offset, `absurd ${what} ${v}`);
    return Number(v);
  };
  const h: SparseHeader = {
    version: b.readUInt32LE(4),
    flags: b.readUInt32LE(8),
    capacitySectors: u64(12, 'capacity', VMDK_MAX_SIZE / SECTOR_SIZE),
    grainSectors: u64(20, 'grain size', 2048),
    descriptorSector: u64(28, 'descriptor offset', Math.floor(file.size / SECTOR_SIZE)),
    descriptorSectors: u64(36, 'descriptor size', 2048),
    gtesPerGt: b.readUInt32LE(44),
    redundantGdSector: u64(48, 'redundant grain directory offset', Math.floor(file.size / SECTOR_SIZE)),
    gdSector: b.readBigUInt64LE(56),
    overheadSectors: u64(64, 'overhead', Math.floor(file.size / SECTOR_SIZE)),
  };
  if (h.version < 1 || h.version > 3) throw fail(4, `unsupported version ${h.version}`);
  if (h.grainSectors < 8 || (h.grainSectors & (h.grainSectors - 1)) !== 0)
    throw fail(20, `grain size ${h.grainSectors} sectors is not a power of two of at least 8`);
  if (h.gtesPerGt < 1 || h.gtesPerGt > 4096) throw fail(44, `absurd ${h.gtesPerGt} entries per grain table`);
  if (h.flags & FLAG.compressed && b.readUInt16LE(77) !== 1)
    throw fail(77, `unknown compression algorithm ${b.readUInt16LE(77)}`);
  return h;
}

/**
 * The embedded text descriptor for the file `outPath` will be; Lamina reads descriptors for the
 * disk's CID and a child's parent.
 */
export function buildDescriptor(
  createType: 'monolithicSparse' | 'streamOptimized',
  capacitySectors: number,
  outPath: string,
  identity: DiskIdentity,
): Buffer {
  const fileName = path.basename(outPath);
  const cylinders = Math.min(65535, Math.ceil(capacitySectors / (16 * 63)));
  const text = [
    '# Disk DescriptorFile',
    'version=1',
    `CID=${identity.bytes('vmdk content id', 4).toString('hex')}`,
    'parentCID=ffffffff',
    `createType="${createType}"`,
    '',
    '# Extent description',
    `RW ${capacitySectors} SPARSE "${fileName}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    `ddb.geometry.cylinders = "${cylinders}"`,
    'ddb.geometry.heads = "16"',
    'ddb.geometry.sectors = "63"',
    'ddb.adapterType = "lsilogic"',
    // ESXi refuses to import a streamOptimized disk without a tools version; this value means "unknown".
    'ddb.toolsVersion = "2147483647"',
    '',
  ].join('\n');
  const b = Buffer.alloc(DESCRIPTOR_SECTORS * SECTOR_SIZE);
  if (Buffer.byteLength(text) > b.length) throw new RangeError(`VMDK descriptor for ${fileName} is too long`);
  b.write(text, 0, 'utf8');
  return b;
}

/** What the embedded descriptor says about the disk's identity and its parent. */
interface DescriptorFacts {
  cid?: string;
  parent?: { cid: string; hint?: string; at: number };
}

async function readDescriptor(file: InputFile, h: SparseHeader): Promise<DescriptorFacts> {
  if (h.descriptorSectors === 0) return {};
  const at = h.descriptorSector * SECTOR_SIZE;
  const text = (await file.readStructure('VMDK descriptor', at, h.descriptorSectors * SECTOR_SIZE))
    .toString('latin1')
    .replace(/\0.*$/s, '');
  const field = (name: string) => new RegExp(`^${name}\\s*=\\s*"?([^"\\r\\n]*)"?\\s*$`, 'm').exec(text)?.[1];
  const cid = field('CID')?.toLowerCase();
  const parentCid = field('parentCID')?.toLowerCase();
  const hint = field('parentFileNameHint');
  if ((!parentCid || parentCid === 'ffffffff') && hint === undefined) return { cid };
  if (!parentCid || parentCid === 'ffffffff')
    throw new DiskFormatError(file.path, 'VMDK descriptor', at, `names parent "${hint}" but no parentCID`);
  return { cid, parent: { cid: parentCid, hint, at } };
}

async function openVmdk(file: InputFile): Promise<VirtualDisk> {
  const head = await file.readStructure('VMDK sparse header', 0, Math.min(file.size, HEADER_SIZE));
  if (head.subarray(0, 4).toString('latin1') !== MAGIC) {
    throw new DiskFormatError(
      file.path,
      'VMDK descriptor',
      0,
      'a descriptor-only VMDK (flat or split extents) is not supported; only monolithicSparse and streamOptimized',
    );
  }
  let h = parseHeader(file, await file.readStructure('VMDK sparse header', 0, HEADER_SIZE), 0);
  const facts = await readDescriptor(file, h);
  const compressed = (h.flags & FLAG.compressed) !== 0;
  if (compressed && facts.parent)
    throw new DiskFormatError(
      file.path,
      'VMDK descriptor',
      facts.parent.at,
      'a streamOptimized disk with a parent is not supported (only monolithicSparse children)',
    );
  if (compressed && !(h.flags & FLAG.markers))
    throw new DiskFormatError(
      file.path,
      'VMDK sparse header',
      8,
      'compressed grains without markers are not supported',
    );
  if (h.gdSector === GD_AT_END) {
    // streamOptimized: the real header is the footer, two sectors before the end-of-stream marker.
    const footerAt = file.size - 2 * SECTOR_SIZE;
    h = parseHeader(file, await file.readStructure('VMDK footer', footerAt, HEADER_SIZE), footerAt);
    if (h.gdSector === GD_AT_END)
      throw new DiskFormatError(
        file.path,
        'VMDK footer',
        footerAt + 56,
        'footer does not locate the grain directory',
      );
  }
  const grainBytes = h.grainSectors * SECTOR_SIZE;
  const grains = Math.ceil(h.capacitySectors / h.grainSectors);
  const gtCount = Math.ceil(grains / h.gtesPerGt);
  const gdAt = Number(h.gdSector) * SECTOR_SIZE;
  if (h.gdSector > BigInt(file.size) || gdAt + gtCount * 4 > file.size) {
    throw new DiskFormatError(
      file.path,
      'VMDK sparse header',
      56,
      `grain directory of ${gtCount} entries at ${gdAt} lies outside the ${file.size}-byte file`,
    );
  }
  const gd = await file.readStructure('VMDK grain directory', gdAt, gtCount * 4);
  // In a child, grain table entry 1 is a grain written as zeros, which hides the parent's.
  const zeroGrains = facts.parent ? new Set<number>() : undefined;
  const table = await readGrainTables(file, gd, gdAt, h, grains, zeroGrains);
  const format = compressed ? 'vmdk-stream' : 'vmdk';
  const capacity = h.capacitySectors * SECTOR_SIZE;
  if (compressed) return new StreamOptimizedDisk(file, capacity, grainBytes, table);
  assertBlocksPlaced(file, table, {
    tableName: 'VMDK grain table',
    entryOffset: () => gdAt,
    blockBytes: grainBytes,
    leadingBytes: 0,
    dataStart: HEADER_SIZE,
    dataEnd: file.size,
  });
  const child = facts.parent && {
    link: {
      structure: 'VMDK descriptor',
      offset: facts.parent.at,
      locations: facts.parent.hint ? [facts.parent.hint] : [],
      linkId: `vmdk:${facts.parent.cid}`,
      linkName: 'CID',
    },
    zeroBlocks: zeroGrains!,
    partialBlocks: new Map<number, Buffer>(),
  };
  const linkId = facts.cid ? `vmdk:${facts.cid}` : undefined;
  return new BlockMappedDisk(format, file, capacity, grainBytes, table, SECTOR_SIZE, child, linkId);
}

/** Reads every grain table the directory points at, batching neighbouring tables into one read. */
async function readGrainTables(
  file: InputFile,
  gd: Buffer,
  gdAt: number,
  h: SparseHeader,
  grains: number,
  zeroGrains?: Set<number>,
): Promise<BlockTable> {
  const table = new BlockTable(grains);
  const gtBytes = h.gtesPerGt * 4;
  const maxBatch = Math.max(1, Math.floor((4 * 1024 * 1024) / gtBytes));
  const gtCount = gd.length / 4;
  for (let first = 0; first < gtCount;) {
    const start = gd.readUInt32LE(first * 4);
    if (start === 0) {
      first++;
      continue;
    }
    let count = 1;
    while (
      first + count < gtCount &&
      count < maxBatch &&
      gd.readUInt32LE((first + count) * 4) === start + (count * gtBytes) / SECTOR_SIZE
    )
      count++;
    const at = start * SECTOR_SIZE;
    if (at + count * gtBytes > file.size) {
      throw new DiskFormatError(
        file.path,
        `VMDK grain directory entry ${first}`,
        gdAt + first * 4,
        `grain table at ${at} lies outside the ${file.size}-byte file`,
      );
    }
    const gts = await file.readStructure('VMDK grain table', at, count * gtBytes);
    for (let i = 0; i < count * h.gtesPerGt; i++) {
      const grain = first * h.gtesPerGt + i;
      const sector = gts.readUInt32LE(i * 4);
      // 1 marks a grain known to be zero (ESXi); it reads as zeros like an unallocated one.
      if (sector > 1 && grain < grains) table.set(grain, sector * SECTOR_SIZE);
      else if (sector === 1 && grain < grains) zeroGrains?.add(grain);
    }
    first += count;
  }
  return table;
}

/** streamOptimized: every allocated grain is a marker (LBA, compressed size) followed by zlib data. */
class StreamOptimizedDisk extends BlockMappedDisk {
  protected readonly plainBlocks = false;

  constructor(file: InputFile, capacity: number, grainBytes: number, table: BlockTable) {
    super('vmdk-stream', file, capacity, grainBytes, table);
  }

  protected async readMapped(grain: number, markerAt: number, inGrain: number, piece: Buffer): Promise<void> {
    const where = `VMDK grain marker for grain ${grain}`;
    const marker = await this.file.readStructure(where, markerAt, 12);
    const lba = marker.readBigUInt64LE(0);
    const size = marker.readUInt32LE(8);
    if (lba !== BigInt((grain * this.blockSize) / SECTOR_SIZE))
      throw new DiskFormatError(
        this.path,
        where,
        markerAt,
        `marker LBA ${lba} does not match the grain table`,
      );
    if (size === 0 || size > 2 * this.blockSize)
      throw new DiskFormatError(this.path, where, markerAt + 8, `absurd compressed size ${size}`);
    const compressed = await this.file.readStructure(where, markerAt + 12, size);
    let grainData: Buffer;
    try {
      // Asynchronous inflate runs on libuv's thread pool, so the grains of one read inflate on
      // every core; maxOutputLength bounds what a malicious stream can make us allocate.
      grainData = await inflateAsync(compressed, { maxOutputLength: this.blockSize });
    } catch (err) {
      throw new DiskFormatError(
        this.path,
        where,
        markerAt + 12,
        `deflate data is corrupt (${(err as Error).message})`,
      );
    }
    const end = inGrain + piece.length;
    if (grainData.length < end) {
      throw new DiskFormatError(
        this.path,
        where,
        markerAt + 12,
        `grain inflates to ${grainData.length} bytes, fewer than the ${end} needed`,
      );
    }
    grainData.copy(piece, 0, inGrain, end);
  }
}

/** Where a monolithicSparse file keeps its grain directories and tables: all before the first grain. */
function sparseTables(virtualSize: number) {
  const gtCount = Math.ceil(Math.ceil(virtualSize / GRAIN_BYTES) / GTES_PER_GT);
  const gdSectors = Math.ceil((gtCount * 4) / SECTOR_SIZE);
  const tablesSectors = gdSectors + (gtCount * GT_BYTES) / SECTOR_SIZE;
  const redundantGdSector = 1 + DESCRIPTOR_SECTORS;
  const gdSector = redundantGdSector + tablesSectors;
  return {
    gtCount,
    gdSectors,
    redundantGdSector,
    gdSector,
    overheadSectors: roundUp(gdSector + tablesSectors, GRAIN_SECTORS),
  };
}

class VmdkSparseWriter extends AllocatingWriter {
  private readonly tables: ReturnType<typeof sparseTables>;
  constructor(
    out: OutputFile,
    virtualSize: number,
    private readonly descriptor: Buffer,
  ) {
    const tables = sparseTables(virtualSize);
    super('vmdk', out, virtualSize, {
      blockSize: GRAIN_BYTES,
      prefix: 0,
      firstBlockAt: tables.overheadSectors * SECTOR_SIZE,
      maxFileSize: VMDK_MAX_SIZE,
    });
    this.tables = tables;
  }

  protected async writeMetadata(): Promise<void> {
    const capacitySectors = this.virtualSize / SECTOR_SIZE;
    const header = buildHeader({
      version: 1,
      flags: FLAG.newlineTest | FLAG.redundantTables,
      capacitySectors,
      grainSectors: GRAIN_SECTORS,
      descriptorSector: 1,
      descriptorSectors: DESCRIPTOR_SECTORS,
      gtesPerGt: GTES_PER_GT,
      redundantGdSector: this.tables.redundantGdSector,
      gdSector: BigInt(this.tables.gdSector),
      overheadSectors: this.tables.overheadSectors,
    });
    const segments = [
      { fileOffset: 0, data: header },
      { fileOffset: SECTOR_SIZE, data: this.descriptor },
    ];
    // Both copies of the tables; every grain table is preallocated right after its directory, as
    // qemu and VMware lay them out, so only tables with entries need writing (the rest stay holes).
    for (const gdSector of [this.tables.redundantGdSector, this.tables.gdSector]) {
      const firstGtSector = gdSector + this.tables.gdSectors;
      const gd = Buffer.alloc(this.tables.gdSectors * SECTOR_SIZE);
      for (let gt = 0; gt < this.tables.gtCount; gt++)
        gd.writeUInt32LE(firstGtSector + gt * (GT_BYTES / SECTOR_SIZE), gt * 4);
      segments.push({ fileOffset: gdSector * SECTOR_SIZE, data: gd });
      for (let gt = 0; gt < this.tables.gtCount; gt++) {
        const entries = grainTable(this.table, gt);
        if (entries)
          segments.push({
            fileOffset: (firstGtSector + gt * (GT_BYTES / SECTOR_SIZE)) * SECTOR_SIZE,
            data: entries,
          });
      }
    }
    segments.sort((a, b) => a.fileOffset - b.fileOffset);
    await this.out.writeSegments(segments);
    await this.out.truncate(this.nextFree);
  }
}

/** Grain table `gt` of `table` as on-disk sector numbers, or undefined when none of its grains is allocated. */
export function grainTable(table: BlockTable, gt: number): Buffer | undefined {
  let entries: Buffer | undefined;
  const first = gt * GTES_PER_GT;
  for (let i = 0; i < GTES_PER_GT && first + i < table.blockCount; i++) {
    const fileOffset = table.get(first + i);
    if (fileOffset === 0) continue;
    entries ??= Buffer.alloc(GT_BYTES);
    entries.writeUInt32LE(fileOffset / SECTOR_SIZE, i * 4);
  }
  return entries;
}

export function vmdkSize(virtualSize: number): number {
  const size = roundUp(virtualSize, SECTOR_SIZE);
  if (size > VMDK_MAX_SIZE)
    throw new RangeError(`VMDK cannot hold ${virtualSize} bytes (sparse extents stop at 2 TiB); use vhdx`);
  return size;
}

async function createVmdkWriter(
  outPath: string,
  virtualSize: number,
  identity: DiskIdentity,
): Promise<DiskWriter> {
  const size = vmdkSize(virtualSize);
  const descriptor = buildDescriptor('monolithicSparse', size / SECTOR_SIZE, outPath, identity);
  return new VmdkSparseWriter(await OutputFile.create(outPath), size, descriptor);
}

/** monolithicSparse; its reader opens streamOptimized files too (the header's flags tell them apart). */
export const vmdkDriver: DiskDriver = {
  name: 'vmdk',
  reader: { probe: isVmdk, open: openVmdk },
  createWriter: (path, options, identity) => createVmdkWriter(path, options.virtualSize, identity),
  blockMapped: true,
};

/**
 * VHDX log replay ([MS-VHDX] 2.3). Hyper-V writes metadata changes to a circular log before
 * applying them in place. A disk that was not closed cleanly can hold logged changes that the
 * file does not show yet. Reading such a disk means finding the active sequence of log entries
 * and applying it. Here that happens in memory, as patches over the file, and the file itself
 * is never written.
 */
import { crc32c } from '../checksum';
import { DiskFormatError } from '../errors';
import { FilePatch, InputFile } from '../file-io';

const KIB = 1024;
const MIB = 1024 * KIB;
const SECTOR = 4 * KIB;
const ENTRY_HEADER_SIZE = 64;
const DESCRIPTOR_SIZE = 32;
/** Hyper-V and qemu use a 1 MiB log; anything larger than this is refused rather than read whole. */
const MAX_LOG_LENGTH = 64 * MIB;

export interface LogRegion {
  offset: number;
  length: number;
}

interface Entry {
  /** Byte offset in the log. */
  at: number;
  bytes: Buffer;
  sequence: bigint;
  tail: number;
  lastFileOffset: number;
  flushedFileOffset: number;
}

/**
 * Replays the log identified by `logGuid` into `file` (as patches). Returns without change when
 * no valid sequence exists, which means the log holds nothing to apply.
 */
export async function replayLog(
  file: InputFile,
  logGuid: Buffer,
  log: LogRegion,
  headerAt: number,
): Promise<void> {
  const fail = (structure: string, offset: number, detail: string) =>
    new DiskFormatError(file.path, structure, offset, detail);
  if (
    log.offset < MIB ||
    log.offset % MIB !== 0 ||
    log.length % MIB !== 0 ||
    log.offset + log.length > file.size
  ) {
    throw fail(
      'VHDX header',
      headerAt + 64,
      `log region of ${log.length} bytes at ${log.offset} is misaligned or outside the file`,
    );
  }
  if (log.length > MAX_LOG_LENGTH) {
    throw fail(
      'VHDX header',
      headerAt + 68,
      `log of ${log.length} bytes is larger than the ${MAX_LOG_LENGTH} Lamina replays`,
    );
  }
  const ring = await file.readStructure('VHDX log', log.offset, log.length);
  const entries = validEntries(ring, logGuid);
  const active = activeSequence(entries, ring.length);
  if (active.length === 0) return;

  const head = active[active.length - 1];
  const where = (entry: Entry) => `VHDX log entry ${entry.sequence}`;
  if (head.flushedFileOffset > file.size) {
    throw fail(
      where(head),
      log.offset + head.at,
      `log says the file was ${head.flushedFileOffset} bytes long, but it is ${file.size} (truncated)`,
    );
  }
  const patches: FilePatch[] = [];
  for (const entry of active) {
    const bad = (detail: string) => fail(where(entry), log.offset + entry.at, detail);
    for (const patch of entryPatches(entry, bad)) {
      if (
        patch.offset % SECTOR !== 0 ||
        patch.length % SECTOR !== 0 ||
        patch.offset + patch.length > Math.max(file.size, head.lastFileOffset)
      ) {
        throw bad(`descriptor writes ${patch.length} bytes at ${patch.offset}, outside the file`);
      }
      patches.push(patch);
    }
  }
  file.applyPatches(patches, head.lastFileOffset);
}

/** Bytes `length` long at `at` in the circular log, wrapping at its end. */
function circular(ring: Buffer, at: number, length: number): Buffer {
  if (at + length <= ring.length) return ring.subarray(at, at + length);
  return Buffer.concat([ring.subarray(at), ring.subarray(0, at + length - ring.length)]);
}

/** Every entry in the log with the right signature, log GUID, shape and CRC-32C, by log offset. */
function validEntries(ring: Buffer, logGuid: Buffer): Map<number, Entry> {
  const entries = new Map<number, Entry>();
  for (let at = 0; at < ring.length; at += SECTOR) {
    const header = ring.subarray(at, at + ENTRY_HEADER_SIZE);
    if (header.subarray(0, 4).toString('latin1') !== 'loge' || !header.subarray(32, 48).equals(logGuid))
      continue;
    const length = header.readUInt32LE(8);
    const tail = header.readUInt32LE(12);
    const sequence = header.readBigUInt64LE(16);
    const descriptors = header.readUInt32LE(24);
    if (
      length < SECTOR ||
      length % SECTOR !== 0 ||
      length > ring.length ||
      tail % SECTOR !== 0 ||
      tail >= ring.length
    )
      continue;
    if (sequence === 0n || ENTRY_HEADER_SIZE + descriptors * DESCRIPTOR_SIZE > length) continue;
    const bytes = Buffer.from(circular(ring, at, length));
    const stored = bytes.readUInt32LE(4);
    bytes.writeUInt32LE(0, 4);
    if (crc32c(bytes) !== stored) continue;
    bytes.writeUInt32LE(stored, 4);
    entries.set(at, {
      at,
      bytes,
      sequence,
      tail,
      flushedFileOffset: Number(bytes.readBigUInt64LE(48)),
      lastFileOffset: Number(bytes.readBigUInt64LE(56)),
    });
  }
  return entries;
}

/**
 * The valid sequence with the highest sequence number: entries with consecutive sequence
 * numbers, each following the previous in the log, from the tail that the last (head) entry
 * names up to that head.
 */
function activeSequence(entries: Map<number, Entry>, ringLength: number): Entry[] {
  let best: Entry[] = [];
  for (const head of entries.values()) {
    if (best.length > 0 && head.sequence <= best[best.length - 1].sequence) continue;
    const sequence: Entry[] = [];
    let entry = entries.get(head.tail);
    while (entry && sequence.length < entries.size) {
      const previous = sequence[sequence.length - 1];
      if (previous && entry.sequence !== previous.sequence + 1n) break;
      sequence.push(entry);
      if (entry === head) {
        best = sequence;
        break;
      }
      entry = entries.get((entry.at + entry.bytes.length) % ringLength);
    }
  }
  return best;
}

/**
 * An entry's descriptors as patches: zero descriptors clear a range; data descriptors write one
 * 4 KiB sector, put together from the descriptor's leading and trailing bytes and the data
 * sector that follows the descriptor area.
 */
function entryPatches(entry: Entry, bad: (detail: string) => DiskFormatError): FilePatch[] {
  const bytes = entry.bytes;
  const count = bytes.readUInt32LE(24);
  const descriptorSectors = Math.ceil((ENTRY_HEADER_SIZE + count * DESCRIPTOR_SIZE) / SECTOR);
  const patches: FilePatch[] = [];
  let dataSector = descriptorSectors;
  for (let i = 0; i < count; i++) {
    const d = bytes.subarray(
      ENTRY_HEADER_SIZE + i * DESCRIPTOR_SIZE,
      ENTRY_HEADER_SIZE + (i + 1) * DESCRIPTOR_SIZE,
    );
    const kind = d.subarray(0, 4).toString('latin1');
    if (d.readBigUInt64LE(24) !== entry.sequence) throw bad(`descriptor ${i} belongs to another sequence`);
    const fileOffset = Number(d.readBigUInt64LE(16));
    if (kind === 'zero') {
      patches.push({ offset: fileOffset, length: Number(d.readBigUInt64LE(8)) });
    } else if (kind === 'desc') {
      const at = dataSector++ * SECTOR;
      if (at + SECTOR > bytes.length) throw bad(`data sector for descriptor ${i} lies past the entry`);
      const sector = bytes.subarray(at, at + SECTOR);
      const sequence = (BigInt(sector.readUInt32LE(4)) << 32n) | BigInt(sector.readUInt32LE(SECTOR - 4));
      if (sector.subarray(0, 4).toString('latin1') !== 'data' || sequence !== entry.sequence) {
        throw bad(`data sector for descriptor ${i} is not one of this entry's`);
      }
      const data = Buffer.alloc(SECTOR);
      d.copy(data, 0, 8, 16); // leading bytes
      sector.copy(data, 8, 8, SECTOR - 4);
      d.copy(data, SECTOR - 4, 4, 8); // trailing bytes
      patches.push({ offset: fileOffset, length: SECTOR, data });
    } else {
      throw bad(`descriptor ${i} has unknown signature "${kind}"`);
    }
  }
  return patches;
}

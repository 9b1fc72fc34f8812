import fs from 'node:fs/promises';
import path from 'node:path';
import { convertDisk, openDisk, type CopyOptions } from '../disk';
import { run } from '../lib/processes';

/** A layer disk to serve: its file and the SHA-256 of that file (the layer version's recorded hash). */
export interface LayerSource {
  path: string;
  sha256: string;
}

/** A raw view of a layer disk that tgtd can serve, held until released. */
export interface RawExport {
  /** The file tgtd serves: the cached raw export, or the layer file itself when it is raw already. */
  file: string;
  sha256: string;
  /** Bytes the guest sees: the LUN's size. */
  virtualSize: number;
  /** Ends this hold; the export may then be evicted (least recently used first). Idempotent. */
  release(): void;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * tgtd serves files and block devices, not VHDX, so each layer version is converted once to a sparse raw
 * file (zero blocks stay holes) and kept here, named by its SHA-256: a layer version never changes, so
 * the same hash is the same bytes, and later targets of any task reuse it.
 *
 * The folder is bounded by allocated bytes (what the files take on disk, holes not counted). After each
 * new export the least recently used exports are removed until the folder fits, except exports some
 * target still holds: a file a live target serves is never removed, so the folder may exceed its bound
 * while more held exports than fit are being served, and shrinks as they are released.
 *
 * Holds are counted in this process: the folder belongs to one appliance worker (the one process
 * running the appliance's tgtd).
 */
export class RawExportCache {
  private readonly holds = new Map<string, number>();
  private readonly converting = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** A raw view of `source`, converted now unless an earlier conversion of the same hash is kept. */
  async acquire(source: LayerSource, options: CopyOptions = {}): Promise<RawExport> {
    if (!SHA256.test(source.sha256))
      throw new Error(`layer hash '${source.sha256}' is not a SHA-256 in lowercase hex`);
    const disk = await openDisk(source.path);
    const { format, virtualSize } = disk;
    await disk.close();
    if (format === 'raw') return this.hold(source.sha256, source.path, virtualSize);

    const file = this.fileFor(source.sha256);
    // Held before the conversion, so an eviction running meanwhile (another layer's) leaves it alone.
    const held = this.hold(source.sha256, file, virtualSize);
    try {
      let conversion = this.converting.get(source.sha256);
      if (!conversion) {
        conversion = this.convert(source, file, options).finally(() => this.converting.delete(source.sha256));
        this.converting.set(source.sha256, conversion);
      }
      await conversion;
      // Used now: the newest in least-recently-used order.
      const now = new Date();
      await fs.utimes(file, now, now);
      await this.trim();
      return held;
    } catch (err) {
      held.release();
      throw err;
    }
  }

  /** The exports kept, with what each takes on disk, least recently used first. */
  async entries(): Promise<{ sha256: string; file: string; allocatedBytes: number; usedAt: Date }[]> {
    const names = await fs.readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const entries = [];
    for (const name of names) {
      const sha256 = name.replace(/\.raw$/, '');
      if (!name.endsWith('.raw') || !SHA256.test(sha256)) continue;
      const file = path.join(this.dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat) entries.push({ sha256, file, allocatedBytes: stat.blocks * 512, usedAt: stat.mtime });
    }
    return entries.sort((a, b) => a.usedAt.getTime() - b.usedAt.getTime());
  }

  private fileFor(sha256: string): string {
    return path.join(this.dir, `${sha256}.raw`);
  }

  private hold(sha256: string, file: string, virtualSize: number): RawExport {
    this.holds.set(sha256, (this.holds.get(sha256) ?? 0) + 1);
    let released = false;
    return {
      file,
      sha256,
      virtualSize,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.holds.get(sha256) ?? 1) - 1;
        if (left > 0) this.holds.set(sha256, left);
        else this.holds.delete(sha256);
      },
    };
  }

  private async convert(source: LayerSource, file: string, options: CopyOptions): Promise<void> {
    if (await fs.stat(file).catch(() => undefined)) return;
    await fs.mkdir(this.dir, { recursive: true });
    const disk = await openDisk(source.path);
    try {
      // convertDisk writes a temporary file beside `file` and renames it once complete: a conversion
      // that fails or is killed never leaves a partial export under the hash's name.
      await convertDisk(disk, 'raw', file, options);
    } finally {
      await disk.close();
    }
    // The copy writes the layer's allocated blocks whole (a VHDX block of 32 MiB holding 1 MiB of files
    // lands as 32 MiB): punching holes where they hold only zeros makes the export as sparse as its data,
    // so it takes less of the cache and a thin-provisioned LUN sends less (GET LBA STATUS reports them).
    await run('fallocate', ['--dig-holes', file], { timeoutMs: 3_600_000, signal: options.signal }).catch(
      (err: Error) => {
        // A file system without hole punching keeps the export as written: correct, only less sparse.
        if (!/not supported/i.test(err.message)) throw err;
      },
    );
  }

  /**
   * Removes unheld exports, least recently used first, until the folder fits its bound: after each new
   * export, and after releases (a target removed) so the folder returns within its bound.
   */
  async trim(): Promise<void> {
    const entries = await this.entries();
    let total = entries.reduce((sum, e) => sum + e.allocatedBytes, 0);
    for (const entry of entries) {
      if (total <= this.maxBytes) break;
      if (this.holds.has(entry.sha256) || this.converting.has(entry.sha256)) continue;
      await fs.rm(entry.file, { force: true });
      total -= entry.allocatedBytes;
    }
  }
}

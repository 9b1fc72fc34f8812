import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import StreamZip from 'node-stream-zip';
import { DEFAULT_DESCRIPTOR, encodeSecurityDescriptor } from './security-descriptor';
import { FileAttribute, type Content, type VolumeOperation } from './volume-operations';
import { ComposeError } from './errors';

/**
 * Where a declaratively built layer's files come from: a folder or a zip (streamed entry by
 * entry, never extracted). Both become the same operations for the NTFS core.
 */

export interface SourceEntry {
  /** `\`-separated path relative to the volume root, e.g. `Program Files\App\app.exe`. */
  windowsPath: string;
  dir: boolean;
  size: number;
  modified: Date;
  open(): Promise<Content>;
}

export interface LayerSource {
  entries: SourceEntry[];
  close(): Promise<void>;
}

async function folderSource(root: string): Promise<LayerSource> {
  const entries: SourceEntry[] = [];
  async function visit(dir: string, relative: string): Promise<void> {
    const children = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    );
    for (const child of children) {
      const full = path.join(dir, child.name);
      const windowsPath = relative ? `${relative}\\${child.name}` : child.name;
      const stat = await fs.stat(full);
      if (stat.isDirectory()) {
        entries.push({
          windowsPath,
          dir: true,
          size: 0,
          modified: stat.mtime,
          open: () => Promise.resolve(Buffer.alloc(0)),
        });
        await visit(full, windowsPath);
      } else if (stat.isFile()) {
        entries.push({
          windowsPath,
          dir: false,
          size: stat.size,
          modified: stat.mtime,
          open: () => fs.readFile(full),
        });
      }
    }
  }
  await visit(root, '');
  return { entries, close: () => Promise.resolve() };
}

async function zipSource(file: string): Promise<LayerSource> {
  const zip = new StreamZip.async({ file });
  const zipEntries = await zip.entries().catch(async (err: unknown) => {
    await zip.close().catch(() => undefined);
    throw new ComposeError(
      `${file}: neither a folder nor a zip archive (${err instanceof Error ? err.message : String(err)})`,
    );
  });
  const entries: SourceEntry[] = Object.values(zipEntries)
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((entry) => ({
      windowsPath: entry.name.replace(/\/+$/, '').replace(/\//g, '\\'),
      dir: entry.isDirectory,
      size: entry.size,
      modified: new Date(entry.time),
      open: async (): Promise<Content> => ({
        size: entry.size,
        stream: (await zip.stream(entry.name)) as AsyncIterable<Buffer>,
      }),
    }));
  return { entries, close: () => zip.close() };
}

export async function openLayerSource(from: string): Promise<LayerSource> {
  const stat = await fs.stat(from).catch(() => undefined);
  if (!stat) throw new ComposeError(`${from}: no such folder or zip`);
  return stat.isDirectory() ? folderSource(from) : zipSource(from);
}

const DESCRIPTOR = encodeSecurityDescriptor(DEFAULT_DESCRIPTOR);

/** The operations writing a source's files, with default ACLs and the source's times. */
export async function* sourceOperations(source: LayerSource): AsyncGenerator<VolumeOperation> {
  for (const entry of source.entries) {
    const times = { created: entry.modified, written: entry.modified, accessed: entry.modified };
    const at = `\\${entry.windowsPath}`;
    if (entry.dir) {
      yield { op: 'dir', path: at };
    } else {
      yield { op: 'file', path: at, content: await entry.open() };
      yield { op: 'attributes', path: at, attributes: FileAttribute.archive };
    }
    yield { op: 'security', path: at, descriptor: DESCRIPTOR };
    yield { op: 'times', path: at, times };
  }
}

/**
 * The operations `lamina_ntfs apply` reads on stdin (see native/ntfs/apply.c), as TypeScript
 * values, and their encoding. Paths are Windows paths (`\Program Files\App\a.exe`).
 */

import { ComposeError } from './errors';

/** Bytes of a file or stream: in memory, or a stream of known length (a zip entry). */
export type Content = Buffer | { size: number; stream: AsyncIterable<Buffer> };

export interface EntryTimes {
  created: Date;
  written: Date;
  accessed: Date;
}

export type VolumeOperation =
  | { op: 'dir'; path: string }
  | { op: 'file'; path: string; content: Content }
  | { op: 'data'; path: string; content: Content }
  | { op: 'stream'; path: string; name: string; content: Content }
  | { op: 'security'; path: string; descriptor: Buffer }
  | { op: 'reparse'; path: string; data: Buffer }
  | { op: 'attributes'; path: string; attributes: number }
  | { op: 'times'; path: string; times: EntryTimes }
  | { op: 'delete'; path: string };

/** Windows FILE_ATTRIBUTE_* bits the layer format uses. */
export const FileAttribute = {
  readOnly: 0x1,
  hidden: 0x2,
  system: 0x4,
  archive: 0x20,
} as const;

const UNIX_TO_NTFS_TICKS = 116444736000000000n;

/** 100-ns ticks since 1601, NTFS's clock. */
export function ntfsTicks(date: Date): bigint {
  return BigInt(date.getTime()) * 10000n + UNIX_TO_NTFS_TICKS;
}

function hasControlCharacter(text: string): boolean {
  return [...text].some((c) => c.charCodeAt(0) < 0x20);
}

/** `\Windows\System32` → `/Windows/System32`, the core's form; rejects what Windows would. */
export function toVolumePath(windowsPath: string): string {
  const parts = windowsPath.split(/[\\/]+/).filter((part) => part.length > 0);
  for (const part of parts) {
    if (part === '.' || part === '..' || hasControlCharacter(part) || /[<>:"|?*]/.test(part)) {
      throw new ComposeError(
        `invalid path component ${JSON.stringify(part)} in ${JSON.stringify(windowsPath)}`,
      );
    }
  }
  return '/' + parts.join('/');
}

function contentSize(content: Content): number {
  return Buffer.isBuffer(content) ? content.length : content.size;
}

async function* contentBytes(content: Content): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(content)) {
    yield content;
    return;
  }
  let sent = 0;
  for await (const chunk of content.stream) {
    sent += chunk.length;
    yield chunk;
  }
  if (sent !== content.size) throw new Error(`content was ${sent} bytes, announced ${content.size}`);
}

/** Encodes operations into the byte stream `lamina_ntfs apply` reads. */
export async function* encodeOperations(
  operations: AsyncIterable<VolumeOperation> | Iterable<VolumeOperation>,
): AsyncGenerator<Buffer> {
  for await (const operation of operations) {
    const target = toVolumePath(operation.path);
    switch (operation.op) {
      case 'dir':
      case 'delete':
        yield Buffer.from(`${operation.op} ${target}\n`);
        break;
      case 'file':
      case 'data':
        yield Buffer.from(`${operation.op} ${contentSize(operation.content)} ${target}\n`);
        yield* contentBytes(operation.content);
        break;
      case 'stream':
        if (!operation.name || hasControlCharacter(operation.name) || /[\\/:]/.test(operation.name))
          throw new ComposeError(`invalid stream name ${JSON.stringify(operation.name)}`);
        yield Buffer.from(`stream ${contentSize(operation.content)} ${target}:${operation.name}\n`);
        yield* contentBytes(operation.content);
        break;
      case 'security':
        yield Buffer.from(`security ${operation.descriptor.toString('hex')} ${target}\n`);
        break;
      case 'reparse':
        yield Buffer.from(`reparse ${operation.data.toString('hex')} ${target}\n`);
        break;
      case 'attributes':
        yield Buffer.from(`attributes ${operation.attributes.toString(16)} ${target}\n`);
        break;
      case 'times': {
        const { created, written, accessed } = operation.times;
        yield Buffer.from(
          `times ${ntfsTicks(created)} ${ntfsTicks(written)} ${ntfsTicks(accessed)} ${target}\n`,
        );
        break;
      }
    }
  }
}

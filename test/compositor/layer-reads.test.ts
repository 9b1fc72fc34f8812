import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeOsAndAppLayer } from './fixtures';
import { composeImage, cutPartition, ntfsfixClean, removeDir, scratchDir, toRaw } from './tools';

/**
 * The core reads a layer's files through a cache of 512 KiB chunks read past the page cache, with a
 * thread reading ahead (native/ntfs/read-cache.c), and reads smaller than 16 KiB through the page
 * cache. The layer here holds more than the cache (32 MiB): a 40 MiB file, hundreds of files
 * of sizes that end and start in the middle of chunks, and files too small for the cache. Every
 * file of the composed image must hold exactly the bytes given, as ntfscat reads them.
 */

let dir: string;
const files = new Map<string, string>(); // relative path → sha256

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

beforeAll(async () => {
  dir = scratchDir('layer-reads');
  const source = path.join(dir, 'source');
  const add = (relative: string, content: Buffer) => {
    mkdirSync(path.dirname(path.join(source, relative)), { recursive: true });
    writeFileSync(path.join(source, relative), content);
    files.set(relative, sha256(content));
  };
  add('Big/installer.bin', randomBytes(40 * 2 ** 20 + 12345));
  // Sizes around the 16 KiB threshold and up to a third of a chunk, in several folders, so the
  // walk's name order (file1, file10, …) is not the order the files lie in.
  for (let i = 0; i < 300; i++)
    add(`App/dir${i % 7}/file${i}.dat`, randomBytes(1000 + ((i * 7919) % 340_000)));
  for (let i = 0; i < 50; i++) add(`App/small/note${i}.txt`, randomBytes(100 + i * 300));
  const { os, app } = await makeOsAndAppLayer(dir, source);
  const image = await composeImage(
    path.join(dir, 'image.vhdx'),
    ...['--os', os, '--app', app, '--size-gib', '0.5', '--firmware', 'bios', '--format', 'vhdx'],
  );
  cutPartition(toRaw(image, path.join(dir, 'image.raw')), 0, path.join(dir, 'windows.ntfs'));
}, 300_000);

afterAll(() => removeDir(dir));

it('every file of a layer bigger than the read cache arrives whole', () => {
  const volume = path.join(dir, 'windows.ntfs');
  const wrong = [...files].filter(([relative, expected]) => {
    const stored = execFileSync('ntfscat', [volume, `/${relative}`], { maxBuffer: 64 * 2 ** 20 });
    return sha256(stored) !== expected;
  });
  expect(wrong.map(([relative]) => relative)).toEqual([]);
  expect(files.size).toBe(351);
  expect(ntfsfixClean(volume)).toBe(true);
});

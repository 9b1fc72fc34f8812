import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { diffVolumes } from '../../compositor/capture/volume-diff';
import { MiB } from '../../compositor/disk-layout';
import { formatVolume } from '../../compositor/volume';
import { removeDir, run, scratchDir } from '../compositor/tools';

/**
 * The file half of capture on changes an installer makes through a real NTFS driver: ntfs-3g
 * (FUSE, as root) renames a folder, adds a hard link, deletes a folder tree, replaces a file and
 * only reads another. The core's record-by-record compare must name exactly what a layer needs.
 */

let dir: string;
let mountPoint: string;

/** Mounted with `atime`: every read updates the access time, as Windows with access updates on does. */
function withMounted(volume: string, change: (root: string) => void): void {
  run('ntfs-3g', ['-o', 'atime', volume, mountPoint]);
  try {
    change(mountPoint);
  } finally {
    execFileSync('umount', [mountPoint]);
  }
}

beforeAll(() => {
  dir = scratchDir('volume-diff');
  mountPoint = path.join(dir, 'mnt');
  mkdirSync(mountPoint);
});

afterAll(() => removeDir(dir));

test('renames, hard links, deleted trees and replaced files become entries and whiteouts; reads change nothing', async () => {
  const base = path.join(dir, 'base.ntfs');
  await formatVolume(base, 64 * MiB, { label: 'Windows', startSector: 2048 });
  withMounted(base, (root) => {
    mkdirSync(path.join(root, 'Apps/Old/sub'), { recursive: true });
    writeFileSync(path.join(root, 'Apps/Old/sub/f.txt'), 'moved with its folder');
    mkdirSync(path.join(root, 'Data/gone'), { recursive: true });
    writeFileSync(path.join(root, 'Data/gone/one.txt'), '1');
    writeFileSync(path.join(root, 'Data/gone/two.txt'), '2');
    writeFileSync(path.join(root, 'Data/keep.txt'), 'linked');
    writeFileSync(path.join(root, 'Data/read.txt'), 'only read');
    writeFileSync(path.join(root, 'replaced.txt'), 'old');
  });
  const after = path.join(dir, 'after.ntfs');
  run('cp', ['--sparse=always', base, after]);
  withMounted(after, (root) => {
    renameSync(path.join(root, 'Apps/Old'), path.join(root, 'Apps/New'));
    linkSync(path.join(root, 'Data/keep.txt'), path.join(root, 'Data/keep-link.txt'));
    rmSync(path.join(root, 'Data/gone'), { recursive: true });
    rmSync(path.join(root, 'replaced.txt'));
    writeFileSync(path.join(root, 'replaced.txt'), 'new content');
    // Read, which moves its access time: not a change of the file.
    const read = path.join(root, 'Data/read.txt');
    const before = statSync(read).atimeMs;
    readFileSync(read);
    expect(statSync(read).atimeMs).toBeGreaterThan(before);
  });

  const changes = await diffVolumes(base, after);
  expect(changes.entries.map((e) => [e.path, e.kind, e.dir])).toEqual([
    ['/Apps/New', 'added', true],
    ['/Apps/New/sub', 'added', true],
    ['/Apps/New/sub/f.txt', 'added', false],
    ['/Data/keep-link.txt', 'added', false],
    // A new name is a change of the file's record: both names are captured (hard links are not kept).
    ['/Data/keep.txt', 'changed', false],
    ['/replaced.txt', 'changed', false],
  ]);
  expect(changes.entries.find((e) => e.path === '/replaced.txt')?.size).toBe('new content'.length);
  expect(changes.deletions).toEqual([
    { path: '/Apps/Old', dir: true, size: 0 },
    { path: '/Data/gone', dir: true, size: 0 },
  ]);
});

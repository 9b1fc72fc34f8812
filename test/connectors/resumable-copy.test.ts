/**
 * The copy a publish makes to a file share (and elastic and layer transfers): the target appears whole
 * or not at all, holds the source's bytes, stays sparse where the source is all zeros, and a stopped
 * copy resumes from the offset it reported. It answers the SHA-256 of all it copied (a publish records
 * the image's hash from it), checked against sha256sum.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { resumableCopy } from '../../connectors/fileshare/resumable-copy';
import { makeRaw, MIB, scratchDir } from '../disk/helpers';

const scratch = scratchDir('resumable-copy');
afterAll(() => scratch.cleanup());

const SIZE = 22 * MIB + 1234;
const sha256sum = (file: string) => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];

/** 5 MiB of data, 11 MiB of zeros, then 6 MiB and a tail that is no whole page. */
function sparseSource(name: string): string {
  const file = scratch.file(name);
  makeRaw(file, SIZE, [
    { offset: 0, length: 5 * MIB },
    { offset: 16 * MIB, length: 6 * MIB + 1234 },
  ]);
  return file;
}

const noProgress = () => undefined;

it('copies the bytes, leaves all-zero chunks as holes and removes the partial file', async () => {
  const source = sparseSource('whole.raw');
  const target = scratch.file('whole.copy');
  const partial = scratch.file('.whole.copy.partial');
  const reported: number[] = [];
  const result = await resumableCopy(source, target, {
    partial,
    resumeFrom: 0,
    onProgress: ({ done }) => reported.push(done),
  });
  expect(result).toEqual({ resumedFrom: 0, sizeBytes: SIZE, sha256: sha256sum(source) });
  expect(fs.readFileSync(target).equals(fs.readFileSync(source))).toBe(true);
  // 4 MiB chunks: 0-8 MiB (data), 8-16 MiB (zeros, skipped), 16 MiB to the end (data).
  expect(fs.statSync(target).blocks * 512).toBeLessThanOrEqual(15 * MIB);
  expect(reported[reported.length - 1]).toBe(22 * MIB + 1234);
  expect(fs.existsSync(partial)).toBe(false);
});

it('resumes a stopped copy from the offset it reported, and keeps what it wrote', async () => {
  const source = sparseSource('resumed.raw');
  const target = scratch.file('resumed.copy');
  const partial = scratch.file('.resumed.copy.partial');
  const stop = new AbortController();
  let reported = 0;
  await expect(
    resumableCopy(source, target, {
      partial,
      resumeFrom: 0,
      onProgress: ({ done }) => {
        reported = done;
        if (done >= 8 * MIB) stop.abort();
      },
      signal: stop.signal,
    }),
  ).rejects.toThrow();
  expect(reported).toBe(8 * MIB);
  expect(fs.existsSync(target)).toBe(false);
  // What the next attempt must not copy again is marked, so a rewrite would show.
  const marker = randomBytes(4096);
  const fd = fs.openSync(partial, 'r+');
  fs.writeSync(fd, marker, 0, marker.length, 0);
  fs.closeSync(fd);

  const result = await resumableCopy(source, target, {
    partial,
    resumeFrom: reported,
    onProgress: noProgress,
  });
  // The hash covers the whole source: the part the first attempt copied is hashed from the source.
  expect(result).toEqual({ resumedFrom: 8 * MIB, sizeBytes: SIZE, sha256: sha256sum(source) });
  const copied = fs.readFileSync(target);
  expect(copied.subarray(0, 4096).equals(marker)).toBe(true);
  expect(copied.subarray(4096).equals(fs.readFileSync(source).subarray(4096))).toBe(true);
});

it('starts over when the partial file holds less than was reported, and finds a finished copy done', async () => {
  const source = sparseSource('restart.raw');
  const target = scratch.file('restart.copy');
  const partial = scratch.file('.restart.copy.partial');
  fs.writeFileSync(partial, 'short');
  const result = await resumableCopy(source, target, {
    partial,
    resumeFrom: 8 * MIB,
    onProgress: noProgress,
  });
  expect(result).toEqual({ resumedFrom: 0, sizeBytes: SIZE, sha256: sha256sum(source) });
  expect(fs.readFileSync(target).equals(fs.readFileSync(source))).toBe(true);
  // Done already: the copy there is hashed, not copied again.
  expect(await resumableCopy(source, target, { partial, resumeFrom: 0, onProgress: noProgress })).toEqual({
    resumedFrom: SIZE,
    sizeBytes: SIZE,
    sha256: sha256sum(target),
  });
});

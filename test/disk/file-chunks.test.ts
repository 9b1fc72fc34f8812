/**
 * readFileChunks reads a whole file through two reused direct-I/O buffers (what image hashes are
 * computed from): the chunks, joined, are the file's bytes, holes and an unaligned tail included.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { readFileChunks } from '../../disk';
import { makeRaw, MIB, scratchDir } from './helpers';

const scratch = scratchDir('file-chunks');
afterAll(() => scratch.cleanup());

async function sha256OfChunks(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of readFileChunks(file)) hash.update(chunk);
  return hash.digest('hex');
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

it('gives the bytes of a sparse file with a tail that is no whole page', async () => {
  const file = scratch.file('sparse.raw');
  makeRaw(file, 13 * MIB + 1234, [
    { offset: 0, length: 4096 },
    { offset: 5 * MIB, length: 3 * MIB },
    { offset: 13 * MIB, length: 1234 },
  ]);
  expect(await sha256OfChunks(file)).toBe(sha256(file));
});

it('gives an empty file as no chunk at all', async () => {
  const file = scratch.file('empty');
  writeFileSync(file, '');
  const chunks: Buffer[] = [];
  for await (const chunk of readFileChunks(file)) chunks.push(chunk);
  expect(chunks).toEqual([]);
});

it('lets a reader stop early without a read left running', async () => {
  const file = scratch.file('stop.raw');
  makeRaw(file, 16 * MIB, [{ offset: 0, length: 16 * MIB }]);
  let first: Buffer | undefined;
  for await (const chunk of readFileChunks(file)) {
    first = Buffer.from(chunk);
    break;
  }
  expect(first).toEqual(readFileSync(file).subarray(0, first!.length));
});

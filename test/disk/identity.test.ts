/** Same data and identity seed give byte-identical files (ARCHITECTURE §5); without a seed, ids differ. */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { convertDisk } from '../../disk/convert';
import { openDisk } from '../../disk/open';
import { buildGpt, buildMbr } from '../../disk/partition';
import { DiskFormat } from '../../disk/types';
import { makeSource } from './corrupt-fixtures';
import { MIB, scratchDir } from './helpers';

const scratch = scratchDir('identity');
const source = scratch.file('source.raw');
beforeAll(() => makeSource(source));
afterAll(() => scratch.cleanup());

/** Converts the source into `<scratch>/<run>/disk.<format>` (same file name each run: VMDK embeds it). */
async function convertInto(run: string, format: DiskFormat, identity?: string): Promise<Buffer> {
  mkdirSync(scratch.file(run), { recursive: true });
  const out = path.join(scratch.file(run), `disk.${format}`);
  const disk = await openDisk(source);
  await convertDisk(disk, format, out, { identity });
  await disk.close();
  return readFileSync(out);
}

test.each(['vhd', 'vhd-fixed', 'vhdx', 'vmdk', 'vmdk-stream'] as const)(
  '%s: same seed, same bytes; no seed, new ids',
  async (format) => {
    const first = await convertInto(`a-${format}`, format, 'image-42');
    const second = await convertInto(`b-${format}`, format, 'image-42');
    expect(first.equals(second)).toBe(true);
    const unseeded = await convertInto(`c-${format}`, format);
    expect(unseeded.equals(first)).toBe(false);
  },
);

test('partition tables: same seed, same bytes', () => {
  const gpt = () =>
    buildGpt(64 * MIB, [{ kind: 'esp', size: 10 * MIB }, { kind: 'basic-data' }], { identity: 'image-42' });
  expect(
    Buffer.concat(gpt().segments.map((s) => s.data)).equals(
      Buffer.concat(
        buildGpt(64 * MIB, [{ kind: 'basic-data' }], { identity: 'image-42' }).segments.map((s) => s.data),
      ),
    ),
  ).toBe(false);
  expect(
    Buffer.concat(gpt().segments.map((s) => s.data)).equals(Buffer.concat(gpt().segments.map((s) => s.data))),
  ).toBe(true);
  const mbr = () =>
    buildMbr(64 * MIB, [{ kind: 'basic-data', bootable: true }], { identity: 'image-42' }).sector0;
  expect(mbr().equals(mbr())).toBe(true);
});

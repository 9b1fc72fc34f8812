/** The bound: converting a 2 TiB sparse disk stays within 256 MiB of RSS. */
import { convertDisk } from '../../disk/convert';
import { openDisk } from '../../disk/open';
import { DiskFormat } from '../../disk/types';
import { GIB, holesAreMapped, makeRaw, MIB, scratchDir, TIB } from './helpers';

const scratch = scratchDir('memory');
afterAll(() => scratch.cleanup());

const LIMIT = 256 * MIB;

/** Runs `work` and returns how far RSS rose above where it started, sampled every 5 ms. */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  global.gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, process.memoryUsage.rss()) - start;
}

// Without a hole map the 2 TiB sources would be read in full: skip (see helpers.holesAreMapped).
const testIfHolesMapped = holesAreMapped(scratch.dir) ? test : test.skip;

testIfHolesMapped.each<[DiskFormat, number]>([
  ['vhd', 2000 * GIB],
  ['vhd-fixed', 2000 * GIB],
  ['vhdx', 2 * TIB],
  ['vmdk', 2 * TIB],
  ['vmdk-stream', 2 * TIB],
])('%s of %d bytes converts within 256 MiB of RSS', async (format, size) => {
  const source = scratch.file(`source-${format}.raw`);
  makeRaw(source, size, [
    { offset: 0, length: 16 * MIB },
    { offset: Math.floor(size / 2 / MIB) * MIB, length: 16 * MIB, fill: 'text' },
    { offset: size - 16 * MIB, length: 16 * MIB },
  ]);
  const growth = await peakRssGrowth(async () => {
    const disk = await openDisk(source);
    await convertDisk(disk, format, scratch.file(`out.${format}`));
    await disk.close();
  });
  expect(growth).toBeLessThan(LIMIT);
});

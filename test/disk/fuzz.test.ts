/**
 * Property: whatever bytes of a format's metadata are damaged (with checksums recomputed or not,
 * the file truncated or not), opening it and reading every allocated byte either works or fails
 * with a DiskFormatError — never another exception, a hang or a runaway allocation.
 */
import fc from 'fast-check';
import { DiskFormatError } from '../../disk/errors';
import { DiskFormat } from '../../disk/types';
import {
  CORRUPTIBLE,
  laminaImage,
  LOG_AT,
  logEntry,
  makeSource,
  metadataRanges,
  qemuImage,
  readEverything,
  reseal,
  withLog,
  writeSparse,
} from './corrupt-fixtures';
import { scratchDir } from './helpers';

const scratch = scratchDir('fuzz');
const source = scratch.file('source.raw');
beforeAll(() => makeSource(source));
afterAll(() => scratch.cleanup());

const RUNS = Number(process.env.LAMINA_FUZZ_RUNS ?? 60);
const PER_RUN_LIMIT_MS = 10_000;

function withinTime<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${PER_RUN_LIMIT_MS} ms (hang?)`)),
      PER_RUN_LIMIT_MS,
    );
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** Damages `base` in `ranges` many ways; every result must open and read, or fail with DiskFormatError. */
async function fuzz(format: DiskFormat, base: Buffer, ranges: [number, number][]): Promise<void> {
  const damage = fc.record({
    bytes: fc.array(
      fc.record({ range: fc.nat(ranges.length - 1), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      { minLength: 1, maxLength: 12 },
    ),
    resealed: fc.boolean(),
    truncateTo: fc.option(fc.nat(base.length - 1), { freq: 4 }),
  });
  const file = scratch.file(`damaged.${format}`);
  await fc.assert(
    fc.asyncProperty(damage, async ({ bytes, resealed, truncateTo }) => {
      const image = Buffer.from(base);
      for (const { range, at, value } of bytes) {
        const [start, end] = ranges[range];
        image[start + (at % (end - start))] = value;
      }
      const damaged = truncateTo === null ? image : image.subarray(0, truncateTo);
      if (resealed) reseal(format, damaged);
      writeSparse(file, damaged);
      try {
        await withinTime(readEverything(file));
      } catch (err) {
        if (!(err instanceof DiskFormatError)) throw err;
        expect(err.message).toContain(file);
        expect(err.message).toMatch(/ at offset \d+: /);
      }
    }),
    { numRuns: RUNS },
  );
}

describe.each(CORRUPTIBLE)('damaged %s', (format) => {
  test.each(['lamina', 'qemu'])(
    'written by %s: opens and reads, or fails with DiskFormatError',
    async (origin) => {
      const out = scratch.file(`base.${format}`);
      const base =
        origin === 'lamina' ? await laminaImage(source, format, out) : qemuImage(source, format, out);
      await fuzz(format, base, metadataRanges(format, base));
    },
  );
});

test('damaged VHDX log: replays, ignores or fails with DiskFormatError', async () => {
  const base = await laminaImage(source, 'vhdx', scratch.file('logged.vhdx'));
  withLog(base, [
    logEntry(1n, 0, base.length, [
      { kind: 'data', fileOffset: 4 * 1024 * 1024, sector: Buffer.alloc(4096, 'log') },
    ]),
    logEntry(2n, 0, base.length, [{ kind: 'zero', fileOffset: 4 * 1024 * 1024 + 8192, length: 4096 }]),
  ]);
  reseal('vhdx', base);
  await fuzz('vhdx', base, [
    [64 * 1024, 64 * 1024 + 80],
    [LOG_AT, LOG_AT + 16 * 1024],
  ]);
});

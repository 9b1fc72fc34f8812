/**
 * Property: whatever bytes of a format's metadata are damaged (with checksums recomputed or not,
 * the file truncated or not), opening it and reading every allocated byte either works or fails
 * with a DiskFormatError — never another exception, a hang or a runaway allocation.
 */
import fc from 'fast-check';
import { DiskFormatError } from '../../disk/errors';
import {
  CORRUPTIBLE,
  laminaImage,
  makeSource,
  metadataRanges,
  qemuImage,
  readEverything,
  reseal,
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

describe.each(CORRUPTIBLE)('damaged %s', (format) => {
  test.each(['lamina', 'qemu'])(
    'written by %s: opens and reads, or fails with DiskFormatError',
    async (origin) => {
      const base =
        origin === 'lamina'
          ? await laminaImage(source, format, scratch.file(`base.${format}`))
          : qemuImage(source, format, scratch.file(`base.${format}`));
      const ranges = metadataRanges(format, base);
      const damage = fc.record({
        bytes: fc.array(
          fc.record({
            range: fc.nat(ranges.length - 1),
            at: fc.nat(),
            value: fc.integer({ min: 0, max: 255 }),
          }),
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
    },
  );
});

import fc from 'fast-check';
import path from 'node:path';
import {
  applyRegistryChanges,
  createEmptyHive,
  formatRegText,
  parseRegText,
  type RegOperation,
} from '../../registry';
import { exportHive, hivexValueLine, makeTempDir } from './hive-tools';

const KEY = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Random';

/** Values of every type, with arbitrary bytes; names stay plain so hivexregedit prints them verbatim. */
const values = fc.uniqueArray(
  fc.record({
    name: fc.stringMatching(/^[A-Za-z0-9 _.-]{1,16}$/),
    type: fc.oneof(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 0xffffffff })),
    data: fc.uint8Array({ maxLength: 300 }).map(Buffer.from),
  }),
  { minLength: 1, maxLength: 8, selector: (value) => value.name.toUpperCase() },
);

describe('random values → .reg text → parse → hive → hivexregedit', () => {
  const temp = makeTempDir();
  afterAll(temp.cleanup);

  it('stores exactly the generated type and bytes for every value', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(values, async (generated) => {
        const operations: RegOperation[] = generated.map((value) => ({
          kind: 'setValue',
          key: KEY,
          ...value,
          file: 'generated',
          line: 0,
        }));
        const parsed = parseRegText(formatRegText(operations), 'random.reg').operations;
        const hive = path.join(temp.dir, `hive${++run}`);
        await createEmptyHive(hive, 'ROOT');
        await applyRegistryChanges(hive, parsed, { hive: 'SOFTWARE' });

        const expected = generated.map((value) => hivexValueLine(value.name, value.type, value.data));
        expect(exportHive(hive, 'HKEY_LOCAL_MACHINE\\SOFTWARE').get(KEY)?.sort()).toEqual(expected.sort());
      }),
      { numRuns: 25 },
    );
  });
});

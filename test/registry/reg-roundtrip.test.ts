import fc from 'fast-check';
import { encodeRegString, formatRegText, parseRegText, RegType, type RegOperation } from '../../registry';

/**
 * Text on one line, rich in the characters the format treats specially (quotes, backslashes,
 * brackets, ';', '=', '@', '-', spaces, line breaks, NUL), plus any UTF-16 code unit; line breaks
 * are filtered out where the format has no room for them (keys and names).
 */
const textUnit = fc.oneof(
  fc.constantFrom('"', '\\', '[', ']', ';', '=', '@', '-', ' ', 'a', 'Z', 'é', '€', '\r', '\n', '\0'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const anyText = fc.string({ unit: textUnit });
const lineText = fc.string({ unit: textUnit, maxLength: 12 }).filter((text) => !/[\r\n]/.test(text));
const keyComponent = lineText.filter((text) => text !== '' && !text.includes('\\'));
const key = fc
  .array(keyComponent, { minLength: 0, maxLength: 3 })
  .map((parts) => ['HKEY_LOCAL_MACHINE', 'SOFTWARE', ...parts].join('\\'));

const typedValue = fc.oneof(
  fc.record({ type: fc.constant(RegType.SZ), data: anyText.map(encodeRegString) }),
  fc.record({
    type: fc.constant(RegType.DWORD),
    data: fc.uint8Array({ minLength: 4, maxLength: 4 }).map(Buffer.from),
  }),
  fc.record({
    type: fc.oneof(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 0xffffffff })),
    data: fc.uint8Array({ maxLength: 100 }).map(Buffer.from),
  }),
);

const valueOperation = (keyPath: string) =>
  fc.oneof(
    fc
      .record({
        kind: fc.constant('setValue' as const),
        key: fc.constant(keyPath),
        name: lineText,
        value: typedValue,
      })
      .map(({ value, ...op }) => ({ ...op, ...value })),
    fc.record({ kind: fc.constant('deleteValue' as const), key: fc.constant(keyPath), name: lineText }),
  );

/** Operations in the shape a .reg file has: a key line, then that key's values; or a key deletion. */
const operations = fc
  .array(
    fc.oneof(
      key.map((k) => [{ kind: 'deleteKey' as const, key: k }]),
      key.chain((k) =>
        fc
          .array(valueOperation(k), { maxLength: 4 })
          .map((values) => [{ kind: 'createKey' as const, key: k }, ...values]),
      ),
    ),
    { maxLength: 5 },
  )
  .map((groups) => groups.flat().map((op) => ({ ...op, file: 'generated', line: 0 }) as RegOperation));

function withoutSource(ops: RegOperation[]): unknown[] {
  return ops.map(({ file: _file, line: _line, ...rest }) => rest);
}

describe('formatRegText → parseRegText', () => {
  it('gives back the same keys, names, types and bytes for random operations', () => {
    fc.assert(
      fc.property(operations, (ops) => {
        const text = formatRegText(ops);
        expect(withoutSource(parseRegText(text, 'x.reg').operations)).toEqual(withoutSource(ops));
      }),
      { numRuns: 300 },
    );
  });

  it('does so through UTF-16LE bytes with a BOM, the way regedit saves files', () => {
    fc.assert(
      fc.property(operations, (ops) => {
        const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(formatRegText(ops), 'utf16le')]);
        expect(withoutSource(parseRegText(bytes, 'x.reg').operations)).toEqual(withoutSource(ops));
      }),
      { numRuns: 100 },
    );
  });

  it('writes regedit-style text: quoted strings, dword:, and hex wrapped at 80 columns', () => {
    const text = formatRegText([
      {
        kind: 'setValue',
        key: 'HKEY_USERS\\.DEFAULT\\K',
        name: 'S',
        type: RegType.SZ,
        data: encodeRegString('a"b\\'),
        file: '',
        line: 0,
      },
      {
        kind: 'setValue',
        key: 'HKEY_USERS\\.DEFAULT\\K',
        name: '',
        type: RegType.DWORD,
        data: Buffer.from([1, 0, 0, 0]),
        file: '',
        line: 0,
      },
      {
        kind: 'setValue',
        key: 'HKEY_USERS\\.DEFAULT\\K',
        name: 'B',
        type: RegType.BINARY,
        data: Buffer.alloc(30, 0xab),
        file: '',
        line: 0,
      },
    ]);
    const lines = text.split('\r\n');
    expect(lines.slice(0, 7)).toEqual([
      'Windows Registry Editor Version 5.00',
      '',
      '[HKEY_USERS\\.DEFAULT\\K]',
      '"S"="a\\"b\\\\"',
      '@=dword:00000001',
      `"B"=hex:${'ab,'.repeat(23)}\\`,
      `  ${'ab,'.repeat(6)}ab`,
    ]);
    expect(lines.every((line) => line.length <= 80)).toBe(true);
  });
});

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseRegFile, parseRegText, RegSyntaxError, RegType, type RegOperation } from '../../registry';
import { makeTempDir } from './hive-tools';

const HEADER = 'Windows Registry Editor Version 5.00';
const KEY = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Test';

function parse(...lines: string[]): RegOperation[] {
  return parseRegText(lines.join('\r\n'), 'test.reg').operations;
}

/** The single value operation of a file with one key and one value line. */
function valueOf(valueLine: string, header = HEADER): RegOperation {
  const [, value] = parse(header, '', `[${KEY}]`, valueLine);
  return value;
}

function utf16(text: string): Buffer {
  return Buffer.from(text, 'utf16le');
}

describe('parseRegText: keys and value types', () => {
  it('reads key creation and deletion with their line numbers and the file name', () => {
    expect(parse(HEADER, '', `[${KEY}]`, '', `[-${KEY}\\Old]`)).toEqual([
      { kind: 'createKey', key: KEY, file: 'test.reg', line: 3 },
      { kind: 'deleteKey', key: `${KEY}\\Old`, file: 'test.reg', line: 5 },
    ]);
  });

  it('reads a string as UTF-16LE with a terminating NUL, unescaping \\\\ and \\"', () => {
    expect(valueOf('"Name"="C:\\\\Program Files\\\\\\"Q\\" é"')).toMatchObject({
      kind: 'setValue',
      key: KEY,
      name: 'Name',
      type: RegType.SZ,
      data: utf16('C:\\Program Files\\"Q" é\0'),
      line: 4,
    });
  });

  it('reads the default value @ as the empty name, and escaped value names', () => {
    expect(valueOf('@="x"')).toMatchObject({ name: '', data: utf16('x\0') });
    expect(valueOf('"a\\"b\\\\c"="x"')).toMatchObject({ name: 'a"b\\c' });
    expect(valueOf('"Empty"=""')).toMatchObject({ type: RegType.SZ, data: utf16('\0') });
  });

  it('reads dword: in any case with 1 to 8 digits as 4 little-endian bytes', () => {
    expect(valueOf('"D"=dword:0000002a')).toMatchObject({
      type: RegType.DWORD,
      data: Buffer.from([0x2a, 0, 0, 0]),
    });
    expect(valueOf('"D"=DWORD:FFFFFFFF')).toMatchObject({ data: Buffer.from([0xff, 0xff, 0xff, 0xff]) });
    expect(valueOf('"D" = dword:1 ; spaces and a comment')).toMatchObject({
      data: Buffer.from([1, 0, 0, 0]),
    });
  });

  it('reads hex: as REG_BINARY and hex(0)..hex(b) plus any 32-bit type with their exact bytes', () => {
    expect(valueOf('"B"=hex:de,AD,be,0')).toMatchObject({
      type: RegType.BINARY,
      data: Buffer.from([0xde, 0xad, 0xbe, 0]),
    });
    expect(valueOf('"B"=hex:')).toMatchObject({ type: RegType.BINARY, data: Buffer.alloc(0) });
    for (let type = 0; type <= 0xb; type++) {
      expect(valueOf(`"T"=hex(${type.toString(16)}):01,02,03`)).toMatchObject({
        type,
        data: Buffer.from([1, 2, 3]),
      });
    }
    expect(valueOf('"T"=HEX(FFFF0011):ff')).toMatchObject({ type: 0xffff0011, data: Buffer.from([0xff]) });
  });

  it('keeps hex(2), hex(7) and hex(b) exactly as regedit exports them', () => {
    expect(valueOf('"E"=hex(2):25,00,41,00,25,00,00,00')).toMatchObject({
      type: RegType.EXPAND_SZ,
      data: utf16('%A%\0'),
    });
    expect(valueOf('"M"=hex(7):61,00,00,00,62,00,00,00,00,00')).toMatchObject({
      type: RegType.MULTI_SZ,
      data: utf16('a\0b\0\0'),
    });
    expect(valueOf('"Q"=hex(b):08,07,06,05,04,03,02,01')).toMatchObject({
      type: RegType.QWORD,
      data: Buffer.from('0807060504030201', 'hex'),
    });
  });

  it('joins hex data continued with \\ over several lines, skipping comment lines between them', () => {
    const ops = parse(
      HEADER,
      `[${KEY}]`,
      '"B"=hex:01,02,\\',
      '  03,04,\\',
      '; a note',
      '  05',
      '"Next"=dword:1',
    );
    expect(ops[1]).toMatchObject({ data: Buffer.from([1, 2, 3, 4, 5]), line: 3 });
    expect(ops[2]).toMatchObject({ name: 'Next', line: 7 });
  });

  it('reads value deletions, including the default value', () => {
    expect(valueOf('"Gone"=-')).toEqual({
      kind: 'deleteValue',
      key: KEY,
      name: 'Gone',
      file: 'test.reg',
      line: 4,
    });
    expect(valueOf('@=-')).toMatchObject({ kind: 'deleteValue', name: '' });
  });

  it('skips comments and blank lines, and accepts LF, CRLF and CR line ends', () => {
    const text = `${HEADER}\n; comment\n\n  ;indented comment\r\n[${KEY}]\r"V"=dword:2\n`;
    expect(parseRegText(text, 'f.reg').operations).toHaveLength(2);
  });
});

describe('parseRegText: encodings and versions', () => {
  const body = `${HEADER}\r\n\r\n[${KEY}]\r\n"Name"="Grüße €"\r\n`;
  const expected = { name: 'Name', data: utf16('Grüße €\0') };

  it('reads UTF-16LE with BOM, as regedit writes', () => {
    const file = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(body, 'utf16le')]);
    expect(parseRegText(file, 'u16.reg').operations[1]).toMatchObject(expected);
  });

  it('reads UTF-8 with and without BOM', () => {
    expect(parseRegText(Buffer.from(body, 'utf8'), 'u8.reg').operations[1]).toMatchObject(expected);
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body, 'utf8')]);
    expect(parseRegText(withBom, 'u8bom.reg').operations[1]).toMatchObject(expected);
  });

  it('reads REGEDIT4 ANSI files and widens their hex(2)/hex(7) strings to UTF-16LE', () => {
    const ansi = Buffer.from(
      [
        'REGEDIT4',
        '',
        `[${KEY}]`,
        '"S"="caf\xe9"',
        '"E"=hex(2):25,41,25,00',
        '"M"=hex(7):61,00,e9,00,00',
        '"B"=hex:e9',
      ].join('\r\n'),
      'latin1',
    );
    const parsed = parseRegText(ansi, 'old.reg');
    expect(parsed.version).toBe('REGEDIT4');
    expect(parsed.operations.slice(1)).toMatchObject([
      { type: RegType.SZ, data: utf16('café\0') },
      { type: RegType.EXPAND_SZ, data: utf16('%A%\0') },
      { type: RegType.MULTI_SZ, data: utf16('a\0é\0\0') },
      { type: RegType.BINARY, data: Buffer.from([0xe9]) },
    ]);
  });
});

describe('parseRegText: syntax errors name the file and the line', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['an empty file', ['', ''], 1, /empty file/],
    ['a missing header', [`[${KEY}]`], 1, /expected "Windows Registry Editor Version 5.00"/],
    ['stray text', [HEADER, 'oops'], 2, /unexpected text "oops"/],
    ['a key without ]', [HEADER, `[${KEY}`], 2, /no closing '\]'/],
    ['text after a key', [HEADER, `[${KEY}] x`], 2, /unexpected text "x" after the key/],
    ['an empty key', [HEADER, '[]'], 2, /empty key path/],
    ['an empty key component', [HEADER, '[HKEY_LOCAL_MACHINE\\\\SOFTWARE]'], 2, /empty component/],
    ['a value before any key', [HEADER, '"V"="x"'], 2, /before any \[KEY\]/],
    ['a value under a deleted key', [HEADER, `[-${KEY}]`, '"V"="x"'], 3, /follows the key deletion/],
    ['an unterminated name', [HEADER, `[${KEY}]`, '"V=1'], 3, /value name is missing its closing/],
    ['a missing =', [HEADER, `[${KEY}]`, '"V" "x"'], 3, /expected '=' after the value name "V"/],
    ['an unterminated string', [HEADER, `[${KEY}]`, '"V"="x'], 3, /string value is missing its closing/],
    ['an unknown escape', [HEADER, `[${KEY}]`, '"V"="C:\\Temp"'], 3, /unknown escape '\\T'/],
    ['text after a string', [HEADER, `[${KEY}]`, '"V"="x" y'], 3, /unexpected text "y" after the value/],
    ['text after -', [HEADER, `[${KEY}]`, '"V"=-1'], 3, /unexpected text "1" after the value/],
    ['a bad dword', [HEADER, `[${KEY}]`, '"V"=dword:xyz'], 3, /1 to 8 hexadecimal digits/],
    ['a too long dword', [HEADER, `[${KEY}]`, '"V"=dword:123456789'], 3, /1 to 8 hexadecimal digits/],
    ['text after a dword', [HEADER, `[${KEY}]`, '"V"=dword:1 z'], 3, /unexpected text "z"/],
    ['an unknown data type', [HEADER, `[${KEY}]`, '"V"=qword:1'], 3, /unknown value data "qword:1"/],
    ['a bad hex type', [HEADER, `[${KEY}]`, '"V"=hex(g):00'], 3, /unknown value data/],
    ['a bad hex byte', [HEADER, `[${KEY}]`, '"V"=hex:01,zz'], 3, /invalid hex byte "zz"/],
    ['a 3-digit hex byte', [HEADER, `[${KEY}]`, '"V"=hex:100'], 3, /invalid hex byte "100"/],
    ['an empty hex byte', [HEADER, `[${KEY}]`, '"V"=hex:01,,02'], 3, /invalid hex byte ""/],
    ['a trailing comma', [HEADER, `[${KEY}]`, '"V"=hex:01,'], 3, /ends with ','/],
    [
      'a bad byte on a continuation line',
      [HEADER, `[${KEY}]`, '"V"=hex:01,\\', '  02,\\', '  0x'],
      5,
      /invalid hex byte "0x"/,
    ],
    ['a continuation at the end of the file', [HEADER, `[${KEY}]`, '"V"=hex:01,\\'], 3, /the file ends/],
  ];

  it.each(cases)('rejects %s', (_what, lines, line, reason) => {
    const error = captureError(() => parse(...lines));
    expect(error).toBeInstanceOf(RegSyntaxError);
    expect(error).toMatchObject({ file: 'test.reg', line });
    expect((error as RegSyntaxError).message).toMatch(new RegExp(`^test\\.reg:${line}: `));
    expect((error as RegSyntaxError).message).toMatch(reason);
  });
});

function captureError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('parseRegFile', () => {
  const temp = makeTempDir();
  afterAll(temp.cleanup);

  it('reads a regedit-saved file and names it in operations and errors', async () => {
    const file = path.join(temp.dir, 'registry.reg');
    const text = `${HEADER}\r\n\r\n[${KEY}]\r\n"V"=dword:1\r\n"W"=hex:zz\r\n`;
    writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    await expect(parseRegFile(file)).rejects.toThrow(new RegSyntaxError(file, 5, 'invalid hex byte "zz"'));
    writeFileSync(file, text.replace('"W"=hex:zz\r\n', ''));
    expect((await parseRegFile(file)).operations[1]).toMatchObject({ file, line: 4, name: 'V' });
  });
});

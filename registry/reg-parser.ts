import { promises as fs } from 'node:fs';
import type { ParsedRegFile, RegOperation } from './operations';
import { encodeRegString, RegType } from './values';

/**
 * Parser for regedit's .reg format (`Windows Registry Editor Version 5.00` and `REGEDIT4`).
 * It is strict where regedit would silently do something surprising (unknown escapes, values
 * under a deleted key, stray text): a layer's registry changes must mean exactly one thing.
 */

/** A .reg file that does not follow the format; the message starts with `file:line:`. */
export class RegSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'RegSyntaxError';
  }
}

const HEADERS: Record<string, ParsedRegFile['version']> = {
  'Windows Registry Editor Version 5.00': 'REGEDIT5',
  REGEDIT4: 'REGEDIT4',
};

export async function parseRegFile(path: string): Promise<ParsedRegFile> {
  return parseRegText(await fs.readFile(path), path);
}

/** Parses .reg content; `file` is only used in error messages and operation sources. */
export function parseRegText(content: Buffer | string, file: string): ParsedRegFile {
  const text = typeof content === 'string' ? content : decodeRegBytes(content);
  return new RegParser(text.split(/\r\n|\n|\r/), file).parse();
}

/**
 * regedit writes UTF-16LE with a BOM (version 5) or ANSI (REGEDIT4); hand-written files are
 * usually UTF-8. Bytes that are not valid UTF-8 are read as Windows-1252, the ANSI code page
 * REGEDIT4 files come from.
 */
function decodeRegBytes(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return new TextDecoder('windows-1252').decode(body);
  }
}

/** The key the following value lines belong to. */
interface CurrentKey {
  path: string;
  deleted: boolean;
}

class RegParser {
  private index = 0;
  private version: ParsedRegFile['version'] = 'REGEDIT5';
  private currentKey: CurrentKey | undefined;
  private readonly operations: RegOperation[] = [];

  constructor(
    private readonly lines: string[],
    private readonly file: string,
  ) {}

  parse(): ParsedRegFile {
    this.parseHeader();
    for (; this.index < this.lines.length; this.index++) {
      const line = this.lines[this.index].trim();
      if (line === '' || line.startsWith(';')) continue;
      if (line.startsWith('[')) this.parseKeyLine(line);
      else if (line.startsWith('"') || line.startsWith('@')) this.parseValueLine(line);
      else
        this.fail(
          `unexpected text ${quote(line)}: expected [KEY], [-KEY], "name"=value, @=value or a ; comment`,
        );
    }
    return { file: this.file, version: this.version, operations: this.operations };
  }

  private get lineNumber(): number {
    return this.index + 1;
  }

  private fail(reason: string): never {
    throw new RegSyntaxError(this.file, this.lineNumber, reason);
  }

  private parseHeader(): void {
    while (this.index < this.lines.length && this.lines[this.index].trim() === '') this.index++;
    if (this.index === this.lines.length) {
      this.index = 0;
      this.fail('empty file: expected "Windows Registry Editor Version 5.00"');
    }
    const header = this.lines[this.index].trim();
    const version = HEADERS[header];
    if (!version) {
      this.fail(
        `expected "Windows Registry Editor Version 5.00" or "REGEDIT4" as the first line, found ${quote(header)}`,
      );
    }
    this.version = version;
    this.index++;
  }

  private parseKeyLine(line: string): void {
    const close = line.lastIndexOf(']');
    if (close === -1) this.fail(`key line ${quote(line)} has no closing ']'`);
    const rest = line.slice(close + 1).trim();
    if (rest !== '' && !rest.startsWith(';')) this.fail(`unexpected text ${quote(rest)} after the key`);
    const deleted = line[1] === '-';
    const path = line.slice(deleted ? 2 : 1, close);
    if (path === '') this.fail('empty key path');
    if (path.split('\\').some((part) => part === '')) {
      this.fail(`key path ${quote(path)} has an empty component (leading, trailing or doubled '\\')`);
    }
    this.currentKey = { path, deleted };
    this.operations.push({
      kind: deleted ? 'deleteKey' : 'createKey',
      key: path,
      file: this.file,
      line: this.lineNumber,
    });
  }

  private parseValueLine(line: string): void {
    const firstLine = this.lineNumber;
    const cursor = new Cursor(line);
    const name = this.readValueName(cursor);
    cursor.skipSpaces();
    if (cursor.peek() !== '=') this.fail(`expected '=' after the value name ${quote(name || '@')}`);
    cursor.advance(1);
    cursor.skipSpaces();
    const key = this.keyForValues(name);
    const source = { key, name, file: this.file, line: firstLine };

    if (cursor.peek() === '-') {
      cursor.advance(1);
      this.expectLineEnd(cursor);
      this.operations.push({ kind: 'deleteValue', ...source });
    } else if (cursor.peek() === '"') {
      const text = this.readQuoted(cursor, 'string value');
      this.expectLineEnd(cursor);
      this.operations.push({ kind: 'setValue', ...source, type: RegType.SZ, data: encodeRegString(text) });
    } else if (cursor.startsWithIgnoringCase('dword:')) {
      cursor.advance('dword:'.length);
      const digits = cursor.take(/^[0-9a-fA-F]+/);
      if (!digits || digits.length > 8)
        this.fail('dword: expects 1 to 8 hexadecimal digits, e.g. dword:0000002a');
      this.expectLineEnd(cursor);
      const data = Buffer.alloc(4);
      data.writeUInt32LE(parseInt(digits, 16));
      this.operations.push({ kind: 'setValue', ...source, type: RegType.DWORD, data });
    } else {
      const prefix = cursor.take(/^hex(\([0-9a-fA-F]{1,8}\))?:/i);
      if (!prefix) {
        this.fail(
          `unknown value data ${quote(cursor.rest())}: expected "string", dword:, hex:, hex(N): or -`,
        );
      }
      const type = prefix.length === 4 ? RegType.BINARY : parseInt(prefix.slice(4, -2), 16);
      const bytes = this.readHexBytes(cursor.rest());
      this.operations.push({ kind: 'setValue', ...source, type, data: this.storedHexData(type, bytes) });
    }
  }

  /** `@` (the default value, named '') or a "quoted" name. */
  private readValueName(cursor: Cursor): string {
    if (cursor.peek() !== '@') return this.readQuoted(cursor, 'value name');
    cursor.advance(1);
    return '';
  }

  private keyForValues(name: string): string {
    if (!this.currentKey) this.fail(`value ${quote(name || '@')} appears before any [KEY] line`);
    if (this.currentKey.deleted) {
      this.fail(`value ${quote(name || '@')} follows the key deletion [-${this.currentKey.path}]`);
    }
    return this.currentKey.path;
  }

  /** Reads a "quoted" string at the cursor; inside it, \\ is a backslash and \" a quote. */
  private readQuoted(cursor: Cursor, what: string): string {
    cursor.advance(1);
    let text = '';
    for (;;) {
      const char = cursor.peek();
      if (char === undefined) this.fail(`${what} is missing its closing '"'`);
      cursor.advance(1);
      if (char === '"') return text;
      if (char !== '\\') {
        text += char;
        continue;
      }
      const escaped = cursor.peek();
      if (escaped !== '\\' && escaped !== '"') {
        this.fail(
          `unknown escape '\\${escaped ?? ''}' in ${what}: write \\\\ for a backslash and \\" for a quote`,
        );
      }
      text += escaped;
      cursor.advance(1);
    }
  }

  /** After a complete value only spaces and a ; comment may follow. */
  private expectLineEnd(cursor: Cursor): void {
    cursor.skipSpaces();
    const rest = cursor.rest();
    if (rest !== '' && !rest.startsWith(';')) this.fail(`unexpected text ${quote(rest)} after the value`);
  }

  /**
   * Comma-separated hex bytes. A line ending in '\' continues on the next line that is not a
   * comment (regedit wraps long values this way, indenting the continuation).
   */
  private readHexBytes(firstSegment: string): number[] {
    const bytes: number[] = [];
    let segment = firstSegment;
    for (;;) {
      let text = segment.trim();
      const continues = text.endsWith('\\');
      if (continues) text = text.slice(0, -1).trim();
      if (text !== '') {
        const items = text.split(',');
        items.forEach((item, position) => {
          const digits = item.trim();
          const isLast = position === items.length - 1;
          if (digits === '' && isLast && continues) return; // "01,02,\" — the comma before the break
          if (digits === '' && isLast) this.fail("hex data ends with ','");
          if (!/^[0-9a-fA-F]{1,2}$/.test(digits)) this.fail(`invalid hex byte ${quote(digits)}`);
          bytes.push(parseInt(digits, 16));
        });
      }
      if (!continues) return bytes;
      segment = this.nextContinuationLine();
    }
  }

  private nextContinuationLine(): string {
    for (;;) {
      if (this.index + 1 >= this.lines.length) this.fail("the line ends with '\\' but the file ends");
      this.index++;
      const line = this.lines[this.index];
      if (!line.trim().startsWith(';')) return line;
    }
  }

  /**
   * REGEDIT4 files are ANSI: their hex(2) and hex(7) strings are single-byte text, which
   * regedit widens to UTF-16LE when importing. Everything else is stored byte for byte.
   */
  private storedHexData(type: number, bytes: number[]): Buffer {
    const data = Buffer.from(bytes);
    if (this.version === 'REGEDIT4' && (type === RegType.EXPAND_SZ || type === RegType.MULTI_SZ)) {
      return Buffer.from(new TextDecoder('windows-1252').decode(data), 'utf16le');
    }
    return data;
  }
}

/** A read position in one line. */
class Cursor {
  private position = 0;

  constructor(private readonly text: string) {}

  peek(): string | undefined {
    return this.text[this.position];
  }

  advance(count: number): void {
    this.position += count;
  }

  rest(): string {
    return this.text.slice(this.position);
  }

  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.position++;
  }

  startsWithIgnoringCase(prefix: string): boolean {
    return this.rest().slice(0, prefix.length).toLowerCase() === prefix;
  }

  /** Consumes and returns the text matching `pattern` (anchored with ^), or '' if none. */
  take(pattern: RegExp): string {
    const match = pattern.exec(this.rest());
    if (!match) return '';
    this.position += match[0].length;
    return match[0];
  }
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

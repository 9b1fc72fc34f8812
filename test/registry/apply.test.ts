import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  applyRegistryChanges,
  createEmptyHive,
  parseRegText,
  readCurrentControlSet,
  RegistryHiveError,
  RegistryRootError,
  splitOperationsByHive,
  type HiveName,
  type RegOperation,
} from '../../registry';
import { exportHive, hivexsh, hivexValueLine, makeTempDir } from './hive-tools';

const SOFTWARE = 'HKEY_LOCAL_MACHINE\\SOFTWARE';
const SYSTEM = 'HKEY_LOCAL_MACHINE\\SYSTEM';
const ENVIRONMENT = 'Control\\Session Manager\\Environment';

const temp = makeTempDir();
afterAll(temp.cleanup);
let hiveCount = 0;

async function emptyHive(): Promise<string> {
  const hive = path.join(temp.dir, `hive${++hiveCount}`);
  await createEmptyHive(hive, 'ROOT');
  return hive;
}

function reg(...lines: string[]): RegOperation[] {
  return parseRegText(['Windows Registry Editor Version 5.00', '', ...lines].join('\r\n'), 'layer.reg')
    .operations;
}

async function apply(hive: string, hiveName: HiveName, ...lines: string[]) {
  return applyRegistryChanges(hive, reg(...lines), { hive: hiveName });
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** A SYSTEM hive whose current control set is 2, with an OS-style environment. */
async function systemHive(): Promise<string> {
  const hive = await emptyHive();
  await apply(
    hive,
    'SYSTEM',
    `[${SYSTEM}\\Select]`,
    '"Current"=dword:00000002',
    `[${SYSTEM}\\ControlSet002\\${ENVIRONMENT}]`,
    // %SystemRoot%\system32;%SystemRoot% as REG_EXPAND_SZ, the way Windows stores Path
    `"Path"=hex(2):${utf16Hex('%SystemRoot%\\system32;%SystemRoot%')}`,
    '"PATHEXT"=".COM;.EXE"',
    '"Custom"="a;b"',
    '"Plain"="x"',
    `[${SYSTEM}\\ControlSet001\\${ENVIRONMENT}]`,
    '"Path"="old"',
  );
  return hive;
}

function utf16Hex(text: string): string {
  return [...Buffer.from(`${text}\0`, 'utf16le')].map((b) => b.toString(16).padStart(2, '0')).join(',');
}

describe('applyRegistryChanges: values land with their exact type and bytes', () => {
  it('writes every regedit value type, as hivexregedit reads them back', async () => {
    const hive = await emptyHive();
    const ops = reg(
      `[${SOFTWARE}\\Vendor\\App]`,
      '@="default"',
      '"String"="C:\\\\Program Files\\\\App \\"quoted\\""',
      '"Empty"=""',
      '"Dword"=dword:deadbeef',
      '"Binary"=hex:00,01,fe,ff',
      '"None"=hex(0):01',
      '"Sz"=hex(1):41,00,00,00',
      '"Expand"=hex(2):25,00,50,00,25,00,00,00',
      '"Bin3"=hex(3):',
      '"Dword4"=hex(4):01,02,03,04',
      '"BigEndian"=hex(5):01,02,03,04',
      '"Link"=hex(6):5c,00',
      '"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00',
      '"Resources"=hex(8):08',
      '"FullResource"=hex(9):09',
      '"Requirements"=hex(a):0a',
      '"Qword"=hex(b):01,02,03,04,05,06,07,08',
      '"Custom"=hex(ffff0011):11',
      `"Long"=hex:${Array.from({ length: 3000 }, (_, i) => (i % 256).toString(16).padStart(2, '0')).join(',')}`,
    );
    const summary = await applyRegistryChanges(hive, ops, { hive: 'SOFTWARE' });

    const exported = exportHive(hive, SOFTWARE);
    const expected = ops.flatMap((op) =>
      op.kind === 'setValue' ? [hivexValueLine(op.name, op.type, op.data)] : [],
    );
    expect(exported.get(`${SOFTWARE}\\Vendor\\App`)?.sort()).toEqual(expected.sort());
    expect(exported.get(`${SOFTWARE}\\Vendor`)).toEqual([]);
    expect(summary).toEqual({
      keysCreated: 2,
      keysDeleted: 0,
      valuesSet: 19,
      valuesMerged: 0,
      valuesDeleted: 0,
    });
  });

  it('stores strings as UTF-16LE with a terminating NUL', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\K]`, '"S"="Grüße"');
    expect(exportHive(hive, SOFTWARE).get(`${SOFTWARE}\\K`)).toEqual([`"S"=hex(1):${utf16Hex('Grüße')}`]);
    expect(exportHive(hive, SOFTWARE, true).get(`${SOFTWARE}\\K`)).toEqual(['"S"=str(1):"Grüße"']);
  });

  it('overwrites a value in place, matching names case-insensitively and keeping the first spelling', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\K]`, '"Version"="1"', '"Other"=dword:1');
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\k]`, '"VERSION"=dword:2');
    expect(exportHive(hive, SOFTWARE).get(`${SOFTWARE}\\K`)?.sort()).toEqual([
      '"Other"=dword:00000001',
      '"Version"=dword:00000002',
    ]);
  });

  it('finds keys case-insensitively beyond ASCII, like Windows', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\Ärger]`, '"A"=dword:1');
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\äRGER]`, '"B"=dword:2');
    expect(hivexsh(hive, ['ls'])).toBe('Ärger\n');
    expect(hivexsh(hive, ['cd \\Ärger', 'lsval'])).toBe('"A"=dword:00000001\n"B"=dword:00000002\n');
  });

  it('creates every missing parent, and keys without values', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\A\\B\\C]`, `[${SOFTWARE}\\A\\B\\C\\D\\E]`);
    expect([...exportHive(hive, SOFTWARE).keys()]).toEqual([
      SOFTWARE,
      `${SOFTWARE}\\A`,
      `${SOFTWARE}\\A\\B`,
      `${SOFTWARE}\\A\\B\\C`,
      `${SOFTWARE}\\A\\B\\C\\D`,
      `${SOFTWARE}\\A\\B\\C\\D\\E`,
    ]);
  });

  it('produces the same bytes for the same operations', async () => {
    const [first, second] = [await emptyHive(), await emptyHive()];
    const lines = [`[${SOFTWARE}\\K]`, '"V"="x"', `[${SOFTWARE}\\K\\Sub]`, `[-${SOFTWARE}\\K\\Sub]`];
    await apply(first, 'SOFTWARE', ...lines);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await apply(second, 'SOFTWARE', ...lines);
    expect(sha256(first)).toBe(sha256(second));
  });
});

describe('applyRegistryChanges: deletions', () => {
  it('deletes single values and the default value, leaving the others', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\K]`, '@="d"', '"Keep"=dword:1', '"Drop"=dword:2');
    const summary = await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\K]`, '"drop"=-', '@=-', '"Absent"=-');
    expect(exportHive(hive, SOFTWARE).get(`${SOFTWARE}\\K`)).toEqual(['"Keep"=dword:00000001']);
    expect(summary.valuesDeleted).toBe(2);
  });

  it('deletes a whole key tree, leaving its siblings; absent keys are ignored', async () => {
    const hive = await emptyHive();
    await apply(
      hive,
      'SOFTWARE',
      `[${SOFTWARE}\\App\\Sub\\Deep]`,
      '"V"=dword:1',
      `[${SOFTWARE}\\Other]`,
      '"W"=dword:2',
    );
    const summary = await apply(hive, 'SOFTWARE', `[-${SOFTWARE}\\APP]`, `[-${SOFTWARE}\\Missing\\Key]`);
    expect([...exportHive(hive, SOFTWARE).keys()]).toEqual([SOFTWARE, `${SOFTWARE}\\Other`]);
    expect(summary).toMatchObject({ keysDeleted: 1 });
  });

  it('deletes a nested key tree, keeping its parent and the parent values', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\App]`, '"Keep"=dword:1', `[${SOFTWARE}\\App\\Sub\\Deep]`);
    await apply(hive, 'SOFTWARE', `[-${SOFTWARE}\\App\\sub]`);
    const exported = exportHive(hive, SOFTWARE);
    expect([...exported.keys()]).toEqual([SOFTWARE, `${SOFTWARE}\\App`]);
    expect(exported.get(`${SOFTWARE}\\App`)).toEqual(['"Keep"=dword:00000001']);
  });

  it('creates the key of a value deletion, as its [KEY] line asks', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[-${SOFTWARE}\\Gone]`, `[${SOFTWARE}\\K]`, '"V"=-');
    expect([...exportHive(hive, SOFTWARE).keys()]).toEqual([SOFTWARE, `${SOFTWARE}\\K`]);
  });

  it('refuses to delete the root key of a hive', async () => {
    const hive = await emptyHive();
    await expect(apply(hive, 'SOFTWARE', `[-${SOFTWARE}]`)).rejects.toThrow(
      new RegistryRootError('layer.reg:3: refusing to delete the root key of the SOFTWARE hive'),
    );
  });

  it('applies operations in file order: delete, then recreate', async () => {
    const hive = await emptyHive();
    await apply(
      hive,
      'SOFTWARE',
      `[${SOFTWARE}\\K]`,
      '"Old"=dword:1',
      `[-${SOFTWARE}\\K]`,
      `[${SOFTWARE}\\K]`,
      '"New"=dword:2',
    );
    expect(exportHive(hive, SOFTWARE).get(`${SOFTWARE}\\K`)).toEqual(['"New"=dword:00000002']);
  });
});

describe('applyRegistryChanges: SYSTEM hive, CurrentControlSet and the environment', () => {
  it('writes CurrentControlSet into the control set named by Select\\Current', async () => {
    const hive = await systemHive();
    await apply(hive, 'SYSTEM', `[${SYSTEM}\\CurrentControlSet\\Services\\MyDriver]`, '"Start"=dword:3');
    const exported = exportHive(hive, SYSTEM);
    expect(exported.get(`${SYSTEM}\\ControlSet002\\Services\\MyDriver`)).toEqual(['"Start"=dword:00000003']);
    expect(exported.has(`${SYSTEM}\\ControlSet001\\Services`)).toBe(false);
    expect(exported.has(`${SYSTEM}\\CurrentControlSet`)).toBe(false);
  });

  it('merges ;-lists in Session Manager\\Environment instead of replacing them', async () => {
    const hive = await systemHive();
    const summary = await apply(
      hive,
      'SYSTEM',
      `[${SYSTEM}\\CurrentControlSet\\${ENVIRONMENT}]`,
      '"Path"="C:\\\\App\\\\bin;%SYSTEMROOT%\\\\System32;C:\\\\App\\\\bin"',
      '"PATHEXT"=".exe;.PY"',
      '"Custom"="c;A"',
      '"Plain"="replaced"',
      '"New"="n1;n2"',
      '"PSModulePath"="C:\\\\Modules"',
    );
    const environment = exportHive(hive, SYSTEM, true).get(`${SYSTEM}\\ControlSet002\\${ENVIRONMENT}`);
    expect(environment?.sort()).toEqual([
      '"Custom"=str(1):"a;b;c"',
      '"New"=str(1):"n1;n2"',
      '"PATHEXT"=str(1):".COM;.EXE;.PY"',
      '"PSModulePath"=str(1):"C:\\Modules"',
      '"Path"=str(2):"%SystemRoot%\\system32;%SystemRoot%;C:\\App\\bin"',
      '"Plain"=str(1):"replaced"',
    ]);
    expect(summary).toMatchObject({ valuesMerged: 3, valuesSet: 3 });
    // The other control set's Path is not touched.
    expect(exportHive(hive, SYSTEM, true).get(`${SYSTEM}\\ControlSet001\\${ENVIRONMENT}`)).toEqual([
      '"Path"=str(1):"old"',
    ]);
  });

  it('replaces a list value by a non-string, and does not merge outside the environment key', async () => {
    const hive = await systemHive();
    await apply(
      hive,
      'SYSTEM',
      `[${SYSTEM}\\CurrentControlSet\\${ENVIRONMENT}]`,
      '"Custom"=dword:7',
      `[${SYSTEM}\\CurrentControlSet\\Control\\Other]`,
      '"Path"="a;b"',
    );
    await apply(hive, 'SYSTEM', `[${SYSTEM}\\CurrentControlSet\\Control\\Other]`, '"Path"="c"');
    const exported = exportHive(hive, SYSTEM, true);
    expect(exported.get(`${SYSTEM}\\ControlSet002\\${ENVIRONMENT}`)).toContain('"Custom"=dword:00000007');
    expect(exported.get(`${SYSTEM}\\ControlSet002\\Control\\Other`)).toEqual(['"Path"=str(1):"c"']);
  });

  it('reads the current control set number for conflict tracking', async () => {
    expect(readCurrentControlSet(await systemHive())).toBe(2);
    const empty = await emptyHive();
    expect(() => readCurrentControlSet(empty)).toThrow(/no REG_DWORD Select\\Current/);
  });

  it('fails clearly when CurrentControlSet is used but Select\\Current is missing', async () => {
    const hive = await emptyHive();
    const before = sha256(hive);
    await expect(apply(hive, 'SYSTEM', `[${SYSTEM}\\CurrentControlSet\\X]`)).rejects.toThrow(
      new RegistryHiveError(`${hive}: no REG_DWORD Select\\Current, so CurrentControlSet cannot be resolved`),
    );
    expect(sha256(hive)).toBe(before);
  });
});

describe('applyRegistryChanges: hives and roots', () => {
  it('maps HKEY_USERS\\.DEFAULT and HKU\\.DEFAULT to the DEFAULT hive', async () => {
    const hive = await emptyHive();
    const ops = reg(
      '[HKEY_USERS\\.DEFAULT\\Console]',
      '"A"=dword:1',
      '[HKU\\.default\\Console]',
      '"B"=dword:2',
    );
    expect(splitOperationsByHive(ops).DEFAULT).toHaveLength(4);
    await applyRegistryChanges(hive, ops, { hive: 'DEFAULT' });
    expect(exportHive(hive, 'HKEY_USERS\\.DEFAULT').get('HKEY_USERS\\.DEFAULT\\Console')).toEqual([
      '"A"=dword:00000001',
      '"B"=dword:00000002',
    ]);
  });

  it('refuses operations that belong to another hive, naming file and line', async () => {
    const hive = await emptyHive();
    await expect(apply(hive, 'SOFTWARE', `[${SOFTWARE}\\Ok]`, `[${SYSTEM}\\X]`)).rejects.toThrow(
      new RegistryRootError(`layer.reg:4: ${SYSTEM}\\X is in the SYSTEM hive, not SOFTWARE`),
    );
  });

  it('refuses keys outside SOFTWARE, SYSTEM and .DEFAULT, naming file and line', async () => {
    const hive = await emptyHive();
    for (const key of [
      'HKEY_CURRENT_USER\\Software',
      'HKEY_LOCAL_MACHINE\\SAM\\X',
      'HKEY_USERS\\S-1-5-21-1',
      'HKEY_LOCAL_MACHINE',
    ]) {
      await expect(apply(hive, 'SOFTWARE', `[${key}]`)).rejects.toThrow(
        new RegExp(`^layer\\.reg:3: ${key.replace(/\\/g, '\\\\')}: Lamina changes only`),
      );
    }
  });
});

describe('applyRegistryChanges: values hivex cannot store for Windows', () => {
  const big = (size: number) => [`[${SOFTWARE}\\K]`, `"Big"=hex:${Array(size).fill('5a').join(',')}`];

  /** The hive, rewritten as format 1.5 (Windows 10) with the header checksum redone. */
  function asVersion15(hive: string): void {
    const bytes = readFileSync(hive);
    bytes.writeUInt32LE(5, 0x18);
    let checksum = 0;
    for (let offset = 0; offset < 0x1fc; offset += 4) checksum ^= bytes.readUInt32LE(offset);
    bytes.writeUInt32LE(checksum >>> 0, 0x1fc);
    writeFileSync(hive, bytes);
  }

  it('refuses data over 16344 bytes in hives of format 1.4 and later, which need big-data cells', async () => {
    const hive = await emptyHive();
    asVersion15(hive);
    const before = sha256(hive);
    await expect(apply(hive, 'SOFTWARE', ...big(16345))).rejects.toThrow(
      new RegistryHiveError(
        'layer.reg:4: value "Big" has 16345 bytes; hives of format 1.5 need big-data cells for more than 16344, which hivex cannot write',
      ),
    );
    expect(sha256(hive)).toBe(before);
    await apply(hive, 'SOFTWARE', ...big(16344));
  });

  it('refuses to rewrite a key of a 1.4+ hive that already holds such data', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', ...big(20000));
    asVersion15(hive);
    await expect(apply(hive, 'SOFTWARE', `[${SOFTWARE}\\K]`, '"Small"=dword:1')).rejects.toThrow(
      new RegistryHiveError(
        `${hive}: key K: value "Big" has 20000 bytes; hives of format 1.5 need big-data cells for more than 16344, which hivex cannot write`,
      ),
    );
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\K\\Sub]`, '"Small"=dword:1');
  });

  it('stores such data in format 1.3 hives, which keep it in one cell', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', ...big(20000));
    expect(exportHive(hive, SOFTWARE).get(`${SOFTWARE}\\K`)).toEqual([
      `"Big"=hex(3):${Array(20000).fill('5a').join(',')}`,
    ]);
  });
});

describe('applyRegistryChanges: bad hive files', () => {
  const setValue = [`[${SOFTWARE}\\Test\\Child\\New]`, '"V"=dword:1'];

  it('reports a file that is not a hive, and leaves it untouched', async () => {
    const file = path.join(temp.dir, 'not-a-hive');
    writeFileSync(file, 'Windows Registry Editor Version 5.00\r\n');
    await expect(apply(file, 'SOFTWARE', ...setValue)).rejects.toThrow(
      new RegistryHiveError(`${file} is not a usable registry hive: hivex cannot open it (Invalid argument)`),
    );
    expect(readFileSync(file, 'utf8')).toBe('Windows Registry Editor Version 5.00\r\n');
  });

  it('reports a missing hive file', async () => {
    const file = path.join(temp.dir, 'missing');
    await expect(apply(file, 'SOFTWARE', ...setValue)).rejects.toThrow(
      /missing is not a usable registry hive: hivex cannot open it \(No such file or directory\)/,
    );
  });

  it('reports a hive with a damaged header', async () => {
    const hive = await emptyHive();
    const bytes = readFileSync(hive);
    bytes[0x28] ^= 0xff; // hive bins size
    writeFileSync(hive, bytes);
    await expect(apply(hive, 'SOFTWARE', ...setValue)).rejects.toThrow(RegistryHiveError);
  });

  it('reports a hive damaged inside, leaving the original file as it was and no temporary file', async () => {
    const hive = await emptyHive();
    await apply(hive, 'SOFTWARE', `[${SOFTWARE}\\Test\\Child]`, '"Old"=dword:1');
    const bytes = readFileSync(hive);
    const childNk = bytes.indexOf('Child') - 0x4c; // the key name follows the nk header
    expect(bytes.toString('latin1', childNk, childNk + 2)).toBe('nk');
    bytes.write('xx', childNk, 'latin1');
    writeFileSync(hive, bytes);
    const before = sha256(hive);
    const filesBefore = readdirSync(temp.dir).sort();

    await expect(apply(hive, 'SOFTWARE', ...setValue)).rejects.toThrow(
      new RegExp(`^${hive} is a damaged registry hive: cannot look up subkey Child`),
    );
    expect(sha256(hive)).toBe(before);
    expect(readdirSync(temp.dir).sort()).toEqual(filesBefore);
  });

  it('leaves the original untouched when a later operation fails', async () => {
    const hive = await emptyHive();
    const copy = `${hive}.copy`;
    copyFileSync(hive, copy);
    await expect(apply(hive, 'SOFTWARE', `[${SOFTWARE}\\Fine]`, `[-${SOFTWARE}]`)).rejects.toThrow(
      RegistryRootError,
    );
    expect(sha256(hive)).toBe(sha256(copy));
  });
});

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createEmptyHive, emptyHiveBytes } from '../../registry';
import { exportHive, hivexsh, makeTempDir, rootKeyName } from './hive-tools';

describe('createEmptyHive', () => {
  const temp = makeTempDir();
  afterAll(temp.cleanup);

  it('writes a hive that hivexsh opens and hivexregedit exports as an empty root', async () => {
    const hive = path.join(temp.dir, 'SOFTWARE');
    await createEmptyHive(hive, 'CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}');
    expect(readFileSync(hive).length).toBe(8192);
    expect(hivexsh(hive, ['ls', 'lsval'])).toBe('');
    expect([...exportHive(hive, 'HKEY_LOCAL_MACHINE\\SOFTWARE')]).toEqual([
      ['HKEY_LOCAL_MACHINE\\SOFTWARE', []],
    ]);
    expect(rootKeyName(hive)).toBe('CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}');
  });

  it('lets hivex add keys and values (every new key inherits the root security cell)', async () => {
    const hive = path.join(temp.dir, 'DEFAULT');
    await createEmptyHive(hive, 'ROOT');
    hivexsh(hive, ['add Console', 'cd Console', 'add Sub', 'setval 1', 'Name', 'string:x', 'commit'], true);
    expect(exportHive(hive, 'HKEY_USERS\\.DEFAULT', true).get('HKEY_USERS\\.DEFAULT\\Console')).toEqual([
      '"Name"=str(1):"x"',
    ]);
    expect(hivexsh(hive, ['cd Console', 'ls'])).toBe('Sub\n');
  });

  it('has a valid base block checksum: hivex refuses the file once a header byte changes', () => {
    const hive = path.join(temp.dir, 'tampered');
    const bytes = emptyHiveBytes('ROOT');
    bytes[0x30] ^= 1;
    writeFileSync(hive, bytes);
    expect(() => hivexsh(hive, ['ls'])).toThrow(/failed to open hive file/);
  });

  it('is byte-identical for the same inputs and stamps the given time', () => {
    expect(emptyHiveBytes('ROOT').equals(emptyHiveBytes('ROOT'))).toBe(true);
    const stamped = emptyHiveBytes('ROOT', { lastWritten: new Date('2024-01-01T00:00:00Z') });
    expect(stamped.readBigUInt64LE(0x0c)).toBe(133485408000000000n);
    expect(emptyHiveBytes('ROOT').readBigUInt64LE(0x0c)).toBe(0n);
  });

  it('rejects root names that cannot be stored', () => {
    for (const name of ['', 'a\\b', 'x'.repeat(256), 'Ωmega']) {
      expect(() => emptyHiveBytes(name)).toThrow(/invalid hive root key name/);
    }
  });
});

import {
  formatHiveKey,
  locateKey,
  RegistryRootError,
  splitOperationsByHive,
  parseRegText,
} from '../../registry';

describe('locateKey', () => {
  it.each([
    ['HKEY_LOCAL_MACHINE\\SOFTWARE\\Vendor\\App', 'SOFTWARE', ['Vendor', 'App']],
    ['HKLM\\software', 'SOFTWARE', []],
    ['HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services', 'SYSTEM', ['CurrentControlSet', 'Services']],
    ['hkey_users\\.Default\\Console', 'DEFAULT', ['Console']],
    ['HKU\\.DEFAULT', 'DEFAULT', []],
  ])('maps %s to the %s hive', (key, hive, path) => {
    expect(locateKey(key)).toEqual({ hive, path });
  });

  it.each([
    'HKEY_CURRENT_USER\\Software',
    'HKEY_CLASSES_ROOT\\.txt',
    'HKEY_LOCAL_MACHINE\\SAM',
    'HKEY_LOCAL_MACHINE\\SECURITY\\Policy',
    'HKEY_LOCAL_MACHINE\\HARDWARE',
    'HKEY_LOCAL_MACHINE',
    'HKEY_USERS\\S-1-5-21-1-2-3-1001',
    'SOFTWARE\\Vendor',
  ])('refuses %s', (key) => {
    expect(() => locateKey(key)).toThrow(RegistryRootError);
    expect(() => locateKey(key)).toThrow(`${key}: Lamina changes only HKEY_LOCAL_MACHINE\\SOFTWARE`);
  });

  it('writes keys back in their full regedit form', () => {
    expect(formatHiveKey({ hive: 'DEFAULT', path: ['Console'] })).toBe('HKEY_USERS\\.DEFAULT\\Console');
    expect(formatHiveKey(locateKey('HKLM\\SYSTEM\\Select'))).toBe('HKEY_LOCAL_MACHINE\\SYSTEM\\Select');
  });
});

describe('splitOperationsByHive', () => {
  it('groups operations by hive in file order', () => {
    const { operations } = parseRegText(
      [
        'Windows Registry Editor Version 5.00',
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]',
        '[HKEY_LOCAL_MACHINE\\SYSTEM\\B]',
        '"V"=dword:1',
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\C]',
      ].join('\n'),
      'layer.reg',
    );
    const byHive = splitOperationsByHive(operations);
    expect(byHive.SOFTWARE.map((op) => op.line)).toEqual([2, 5]);
    expect(byHive.SYSTEM.map((op) => op.line)).toEqual([3, 4]);
    expect(byHive.DEFAULT).toEqual([]);
  });
});

import {
  countOperations,
  findRegistryConflicts,
  parseRegText,
  type LayerRegistryChanges,
} from '../../registry';

function layer(name: string, body: string[], isOsLayer = false): LayerRegistryChanges {
  const text = ['Windows Registry Editor Version 5.00', '', ...body].join('\r\n');
  return { layer: name, isOsLayer, operations: parseRegText(text, `${name}.reg`).operations };
}

const APP_KEY = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Shared';
const ENVIRONMENT = 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment';

describe('findRegistryConflicts', () => {
  it('reports values set by several non-OS layers: the last layer wins, the others lose in order', () => {
    const conflicts = findRegistryConflicts([
      layer('os', [`[${APP_KEY}]`, '"Version"="os"'], true),
      layer('app-a', [`[${APP_KEY}]`, '"Version"="a"', '"OnlyA"=dword:1']),
      layer('app-b', [`[hklm\\software\\SHARED]`, '"VERSION"=dword:2', '@="b"']),
      layer('platform', [`[${APP_KEY}]`, '"Version"="p"', '@="p"']),
    ]);
    expect(conflicts).toEqual([
      { key: APP_KEY, valueName: 'Version', winner: 'platform', losers: ['app-a', 'app-b'], merged: false },
      { key: APP_KEY, valueName: '', winner: 'platform', losers: ['app-b'], merged: false },
    ]);
  });

  it('ignores the OS layer, values set by one layer, and a layer setting a value twice', () => {
    expect(
      findRegistryConflicts([
        layer('os', [`[${APP_KEY}]`, '"V"="os"'], true),
        layer('app', [`[${APP_KEY}]`, '"V"="1"', '"V"="2"']),
      ]),
    ).toEqual([]);
  });

  it('marks environment ;-lists as merged, since no layer loses its entries', () => {
    const conflicts = findRegistryConflicts([
      layer('app-a', [`[${ENVIRONMENT}]`, '"Path"="C:\\\\A"', '"Flag"="1"']),
      layer('app-b', [`[${ENVIRONMENT}]`, '"PATH"="C:\\\\B"', '"Flag"="2"']),
    ]);
    expect(conflicts).toEqual([
      { key: ENVIRONMENT, valueName: 'PATH', winner: 'app-b', losers: ['app-a'], merged: true },
      { key: ENVIRONMENT, valueName: 'Flag', winner: 'app-b', losers: ['app-a'], merged: false },
    ]);
  });

  it('treats CurrentControlSet and ControlSet00N as the same key when told the current set', () => {
    const layers = [
      layer('app-a', ['[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\S]', '"Start"=dword:2']),
      layer('app-b', ['[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\S]', '"Start"=dword:3']),
    ];
    expect(findRegistryConflicts(layers)).toEqual([]);
    expect(findRegistryConflicts(layers, { currentControlSet: 1 })).toEqual([
      {
        key: 'HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Services\\S',
        valueName: 'Start',
        winner: 'app-b',
        losers: ['app-a'],
        merged: false,
      },
    ]);
  });

  it('names file and line for a key outside the supported hives', () => {
    expect(() => findRegistryConflicts([layer('app', ['[HKEY_CURRENT_USER\\X]', '"V"=dword:1'])])).toThrow(
      /^app\.reg:4: HKEY_CURRENT_USER\\X: Lamina changes only/,
    );
  });
});

describe('countOperations', () => {
  it('counts operations by kind', () => {
    const { operations } = layer('app', [
      `[${APP_KEY}]`,
      '"A"=dword:1',
      '"B"=-',
      '"C"="x"',
      `[-${APP_KEY}\\Old]`,
      `[${APP_KEY}\\Empty]`,
    ]);
    expect(countOperations(operations)).toEqual({ createKey: 2, deleteKey: 1, setValue: 2, deleteValue: 1 });
  });
});

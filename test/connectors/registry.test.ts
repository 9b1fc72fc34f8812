import { ConnectorNotInBuildError, createConnector } from '../../connectors';
import { CONNECTOR_TYPE_NAMES, CONNECTOR_TYPES } from '../../connectors/registry';
import { EXAMPLE_VSPHERE_SETTINGS } from './example-settings';

/** Settings each implemented type accepts; building a connector talks to nothing yet. */
const SETTINGS: Record<string, Record<string, unknown>> = {
  local: { storagePool: '/srv/lamina/pool' },
  fileshare: { path: '\\\\files\\images', mountPoint: '/mnt/images' },
  vsphere: EXAMPLE_VSPHERE_SETTINGS,
};

describe('the connector registry', () => {
  it('lists each type once, under the type its descriptor names', () => {
    expect(new Set(CONNECTOR_TYPE_NAMES).size).toBe(CONNECTOR_TYPE_NAMES.length);
    for (const type of CONNECTOR_TYPE_NAMES) expect(CONNECTOR_TYPES[type].type).toBe(type);
  });

  it.each(CONNECTOR_TYPE_NAMES.filter((type) => CONNECTOR_TYPES[type].create))(
    'builds a %s connector with exactly the capabilities its descriptor declares',
    (type) => {
      const connector = createConnector(
        { id: 'c1', type, name: `${type} connector`, settings: SETTINGS[type] },
        { password: 'secret' },
      );
      expect(connector.type).toBe(type);
      const offered = (['vms', 'images'] as const).filter((capability) => connector[capability]);
      expect(offered).toEqual(CONNECTOR_TYPES[type].capabilities);
    },
  );

  it('refuses to build a declared type without an implementation, naming the type', () => {
    const build = () =>
      createConnector({ id: 'c2', type: 'xenserver', name: 'Pool A', settings: {} }, { password: 'x' });
    expect(build).toThrow(ConnectorNotInBuildError);
    expect(build).toThrow(/connector 'Pool A' is of type 'xenserver' \(Citrix Hypervisor \(XenServer\)\)/);
  });

  it('refuses a type this build does not know at all', () => {
    expect(() => createConnector({ id: 'c3', type: 'floppy', name: 'Old', settings: {} })).toThrow(
      "connector 'Old' has type 'floppy', which this build does not support",
    );
  });
});

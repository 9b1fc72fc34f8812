import { ConnectorNotInBuildError, createConnector } from '../../connectors';
import { CONNECTOR_CAPABILITIES, type ConnectorCapability } from '../../connectors/connector-type';
import { CONNECTOR_TYPE_NAMES, CONNECTOR_TYPES } from '../../connectors/registry';
import { EXAMPLE_VSPHERE_SETTINGS } from './example-settings';

/** Settings each implemented type accepts; building a connector talks to nothing yet. */
const SETTINGS: Record<string, Record<string, unknown>> = {
  local: { storagePool: '/srv/lamina/pool' },
  fileshare: { path: '\\\\files\\images', mountPoint: '/mnt/images' },
  vsphere: EXAMPLE_VSPHERE_SETTINGS,
  azure: {
    tenantId: '00000000-0000-4000-8000-000000000001',
    subscriptionId: '00000000-0000-4000-8000-000000000002',
    clientId: '00000000-0000-4000-8000-000000000003',
    resourceGroup: 'lamina-images',
    location: 'westeurope',
    storageAccount: 'laminaimages',
    container: 'master-images',
    subnetId:
      '/subscriptions/00000000-0000-4000-8000-000000000002/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vdi/subnets/desktops',
  },
};
/** Each type's sealed fields; the others take a password. */
const SECRETS: Record<string, Record<string, string>> = { azure: { clientSecret: 'secret' } };

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
        SECRETS[type] ?? { password: 'secret' },
      );
      expect(connector.type).toBe(type);
      // `upload` is a member of the Azure connector only, not of the Connector interface.
      const members = connector as Partial<Record<ConnectorCapability, unknown>>;
      const offered = CONNECTOR_CAPABILITIES.filter((capability) => members[capability]);
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

import { azureConnectorType } from './azure/type';
import type { ConnectorTypeDefinition } from './connector-type';
import { fileshareConnectorType } from './fileshare/type';
import { hypervConnectorType } from './hyperv/type';
import { localConnectorType } from './local/type';
import { nutanixConnectorType } from './nutanix/type';
import { pvsConnectorType } from './pvs/type';
import { vsphereConnectorType } from './vsphere/type';
import { xenserverConnectorType } from './xenserver/type';

/** Every connector type the API accepts (ARCHITECTURE.md §7), keyed by the `type` stored with a connector. */
export const CONNECTOR_TYPES = {
  local: localConnectorType,
  fileshare: fileshareConnectorType,
  vsphere: vsphereConnectorType,
  azure: azureConnectorType,
  pvs: pvsConnectorType,
  hyperv: hypervConnectorType,
  xenserver: xenserverConnectorType,
  nutanix: nutanixConnectorType,
} satisfies Record<string, ConnectorTypeDefinition>;

export type ConnectorType = keyof typeof CONNECTOR_TYPES;
export const CONNECTOR_TYPE_NAMES = Object.keys(CONNECTOR_TYPES) as [ConnectorType, ...ConnectorType[]];

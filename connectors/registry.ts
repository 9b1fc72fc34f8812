import { azureConnectorType } from './azure/type';
import type { ConnectorDescriptor } from './connector-type';
import { fileshareConnectorType } from './fileshare/type';
import { hypervConnectorType } from './hyperv/type';
import { localConnectorType } from './local/type';
import { nutanixConnectorType } from './nutanix/type';
import { pvsConnectorType } from './pvs/type';
import { vsphereConnectorType } from './vsphere/type';
import { xenserverConnectorType } from './xenserver/type';

/**
 * Every connector type this build knows (ARCHITECTURE.md §7), one line per connectors/<type>/ folder;
 * the API accepts exactly these, and offers them in this order.
 */
const DESCRIPTORS = [
  localConnectorType,
  fileshareConnectorType,
  vsphereConnectorType,
  azureConnectorType,
  pvsConnectorType,
  hypervConnectorType,
  xenserverConnectorType,
  nutanixConnectorType,
] as const;

export type ConnectorType = (typeof DESCRIPTORS)[number]['type'];
export const CONNECTOR_TYPE_NAMES = DESCRIPTORS.map((d) => d.type) as [ConnectorType, ...ConnectorType[]];

/** The descriptors keyed by the `type` stored with a connector. */
export const CONNECTOR_TYPES = Object.fromEntries(DESCRIPTORS.map((d) => [d.type, d])) as Readonly<
  Record<ConnectorType, ConnectorDescriptor>
>;

/** The descriptor of a stored type, or undefined for a type this build does not know at all. */
export function connectorDescriptor(type: string): ConnectorDescriptor | undefined {
  return (CONNECTOR_TYPE_NAMES as readonly string[]).includes(type)
    ? CONNECTOR_TYPES[type as ConnectorType]
    : undefined;
}

/** Why a configuration of a declared but unimplemented type cannot be used, naming the type. */
export function notInBuildMessage(descriptor: ConnectorDescriptor, name: string): string {
  return (
    `connector '${name}' is of type '${descriptor.type}' (${descriptor.label}), which is not implemented ` +
    `in this build: its settings are stored and validated, but nothing can talk to ${descriptor.label} yet`
  );
}

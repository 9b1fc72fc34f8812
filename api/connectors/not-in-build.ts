import { connectorDescriptor, notInBuildMessage } from '../../connectors/registry';
import { HttpProblem } from '../problem';

/**
 * A configuration of a connector type this build declares but has no code for cannot be tested or
 * published with: refused up front with a 422 naming the type, instead of a task failing after retries.
 * `field` is the request part that names the configuration.
 */
export function refuseConnectorNotInBuild(connector: { type: string; name: string }, field: string): void {
  const descriptor = connectorDescriptor(connector.type);
  if (!descriptor || descriptor.create) return;
  const message = notInBuildMessage(descriptor, connector.name);
  throw new HttpProblem({
    title: 'Connector type not implemented',
    status: 422,
    detail: `${message}.`,
    errors: [{ field, message }],
  });
}

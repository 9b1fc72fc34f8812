import { TLS_DATA, type LaminaConfig } from '../config/env';
import { encodePayloadKeys, PAYLOAD_KEYS_VARIABLE } from '../config/payload-codec';
import { temporalTlsMaterial } from './temporal-connection';

/**
 * What every Compositing Engine the appliance launches starts with (`lamina ce`, ARCHITECTURE.md §1): the
 * Temporal cluster as the engine reaches it, and the payload codec's keys (derived from the master key
 * ring, which itself never leaves the appliance: config/payload-codec.ts, PAYLOAD_KEYS_VARIABLE).
 * An embedded Temporal listens on the appliance's loopback; an engine, on another machine or in a
 * network namespace, reaches it at the appliance's address (LAMINA_CE_ADDRESS).
 *
 * A cluster the appliance reaches over TLS the engine reaches over TLS too, with the same trust: the CA and
 * server name, and for mTLS the client certificate and key, as PEM text (the `_DATA` variables): the
 * engine, a VM on another platform, has none of the appliance's files. The environment is read at start
 * and spread into the launch inside createCompositingEngine (an activity): it is never in a workflow's
 * history, and the hosts carry it to the engine without logging it.
 */
export function engineEnvironment(
  config: Pick<LaminaConfig, 'temporal' | 'compositingEngines'>,
  temporalAddress: string,
  masterKeys: Buffer[],
): Record<string, string> {
  const [host, port] = [
    temporalAddress.slice(0, temporalAddress.lastIndexOf(':')),
    temporalAddress.split(':').pop(),
  ];
  return {
    TEMPORAL_ADDRESS: isLoopbackAddress(host)
      ? `${config.compositingEngines.address}:${port}`
      : temporalAddress,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    ...(config.temporal.apiKey ? { TEMPORAL_API_KEY: config.temporal.apiKey } : {}),
    ...engineTls(config.temporal.tls),
    [PAYLOAD_KEYS_VARIABLE]: encodePayloadKeys(masterKeys),
  };
}

function engineTls(tls: LaminaConfig['temporal']['tls']): Record<string, string> {
  const material = temporalTlsMaterial(tls);
  if (!material) return {};
  return {
    TEMPORAL_TLS: 'true',
    ...(material.serverName ? { TEMPORAL_TLS_SERVER_NAME: material.serverName } : {}),
    ...(material.ca ? { [TLS_DATA.ca]: material.ca.toString('utf8') } : {}),
    // The appliance's own client certificate and key: a cluster that wants mTLS refuses an engine that
    // cannot prove itself as the appliance does, and the engine is already trusted with as much (the
    // payload codec's keys open every task's payloads). A certificate of its own per engine would need
    // the key of the cluster's CA, which the appliance does not hold.
    ...(material.cert && material.key
      ? { [TLS_DATA.cert]: material.cert.toString('utf8'), [TLS_DATA.key]: material.key.toString('utf8') }
      : {}),
  };
}

/** A host name of the appliance's loopback: engines elsewhere (or in a network namespace) cannot reach it. */
export function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}

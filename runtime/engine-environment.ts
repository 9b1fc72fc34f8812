import type { LaminaConfig } from '../config/env';
import { encodePayloadKeys, PAYLOAD_KEYS_VARIABLE } from '../config/payload-codec';

/**
 * What every Compositing Engine the appliance launches starts with (`lamina ce`, ARCHITECTURE.md §1): the
 * Temporal cluster as the engine reaches it, and the payload codec's keys (derived from the master key
 * ring, which itself never leaves the appliance: config/payload-codec.ts, PAYLOAD_KEYS_VARIABLE).
 * An embedded Temporal listens on the appliance's loopback; an engine, on another machine or in a
 * network namespace, reaches it at the appliance's address (LAMINA_CE_ADDRESS).
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
    [PAYLOAD_KEYS_VARIABLE]: encodePayloadKeys(masterKeys),
  };
}

/** A host name of the appliance's loopback: engines elsewhere (or in a network namespace) cannot reach it. */
export function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]';
}

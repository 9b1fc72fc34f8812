import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createConnector } from '../connectors';
import type { Connector } from '../connectors/connector';
import { WORKFLOW_TAG } from '../domain/vm-contract';
import { getConnectorSecrets, listConnectors, type ConnectorRecord } from '../db/connectors';
import type { SecretBox } from '../config/secret-box';
import { SIGNALS } from '../workflows/signals';

export interface PowerWatcher {
  stop(): Promise<void>;
}

/**
 * Watches the VMs of every connector that has them and signals the workflow that owns a VM (its
 * WORKFLOW_TAG) when the VM is off after having been powered on, or its guest reported the first-start
 * scripts done. It compares states, not transitions, so a shutdown between two looks is not missed.
 * This is the quick path; the workflows also poll, so a watcher that is down only delays them.
 */
export function startPowerWatcher(
  { pool, secrets }: { pool: Pool; secrets: SecretBox },
  client: Client,
  intervalMs = 1000,
): PowerWatcher {
  // What was signalled already: a power-off per power-on (keyed by its time), a scripts report per VM.
  const signalled = new Set<string>();
  let stopped = false;
  // Connectors stay open between looks (a vCenter session is not a login per second), and are built
  // again when their stored configuration or secrets change, closed when the configuration is deleted.
  const open = new Map<string, { version: string; connector: Connector | undefined }>();

  const connectorFor = async (record: ConnectorRecord) => {
    const opened = await getConnectorSecrets(pool, secrets, record.id);
    const version = createHash('sha256')
      .update(JSON.stringify([record, opened]))
      .digest('hex');
    const known = open.get(record.id);
    if (known?.version === version) return known.connector;
    await known?.connector?.close?.().catch(() => undefined);
    let connector: Connector | undefined;
    try {
      connector = createConnector(record, opened);
    } catch {
      connector = undefined; // a type this build cannot drive has no VMs to watch
    }
    open.set(record.id, { version, connector });
    return connector;
  };

  const closeDeleted = async (records: ConnectorRecord[]) => {
    for (const [id, { connector }] of open) {
      if (records.some((r) => r.id === id)) continue;
      open.delete(id);
      await connector?.close?.().catch(() => undefined);
    }
  };

  const look = async () => {
    const records = await listConnectors(pool);
    await closeDeleted(records);
    for (const record of records) {
      const connector = await connectorFor(record);
      if (!connector?.vms) continue;
      // A hypervisor that cannot be reached now is looked at again next time; the others go on.
      const vms = await connector.vms.listVms().catch(() => []);
      for (const vm of vms) {
        const workflowId = vm.tags[WORKFLOW_TAG];
        if (!workflowId) continue;
        const handle = client.workflow.getHandle(workflowId);
        const send = async (key: string, signal: () => Promise<void>) => {
          if (signalled.has(key)) return;
          // A workflow that has ended cannot take signals any more; that is fine.
          await signal().catch(() => undefined);
          signalled.add(key);
        };
        if (vm.power === 'off' && vm.poweredOnAt) {
          await send(`off/${record.id}/${vm.id}/${vm.poweredOnAt}`, () =>
            handle.signal(SIGNALS.vmPoweredOff, vm.id),
          );
        }
        if (vm.scriptsReport) {
          await send(`scripts/${record.id}/${vm.id}`, () =>
            handle.signal(SIGNALS.scriptsReported, vm.id, vm.scriptsReport!),
          );
        }
      }
    }
  };

  const loop = (async () => {
    while (!stopped) {
      await look().catch(() => undefined); // the next look retries; the workflows poll as a fallback
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();

  return {
    async stop() {
      stopped = true;
      await loop;
      for (const { connector } of open.values()) await connector?.close?.().catch(() => undefined);
    },
  };
}

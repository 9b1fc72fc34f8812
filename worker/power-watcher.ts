import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createConnector } from '../connectors';
import { WORKFLOW_TAG, type PowerState } from '../connectors/vm-host';
import { listConnectors } from '../db/connectors';
import { SIGNALS } from '../workflows/signals';

export interface PowerWatcher {
  stop(): Promise<void>;
}

/**
 * Watches the VMs of every connector that has them and signals the workflow that owns a VM (its
 * `workflowId` tag) when the VM powers off or its guest reports the first-start scripts done. This
 * is the quick path; the workflows also poll the power state, so a missed signal (worker down, an
 * edge between two looks) only delays them.
 */
export function startPowerWatcher(pool: Pool, client: Client, intervalMs = 1000): PowerWatcher {
  const lastPower = new Map<string, PowerState>();
  const reported = new Set<string>();
  let stopped = false;

  const look = async () => {
    for (const record of await listConnectors(pool)) {
      const connector = (() => {
        try {
          return createConnector(record);
        } catch {
          return undefined; // a type this build cannot drive has no VMs to watch
        }
      })();
      if (!connector?.vms) continue;
      for (const vm of await connector.vms.listVms()) {
        const workflowId = vm.tags[WORKFLOW_TAG];
        if (!workflowId) continue;
        const key = `${record.id}/${vm.id}`;
        const before = lastPower.get(key);
        lastPower.set(key, vm.power);
        const handle = client.workflow.getHandle(workflowId);
        // A workflow that has ended cannot take signals any more; that is fine.
        if (before && before !== 'off' && vm.power === 'off') {
          await handle.signal(SIGNALS.vmPoweredOff, vm.id).catch(() => undefined);
        }
        if (vm.scriptsReport && !reported.has(key)) {
          reported.add(key);
          await handle.signal(SIGNALS.scriptsReported, vm.id, vm.scriptsReport).catch(() => undefined);
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
    },
  };
}

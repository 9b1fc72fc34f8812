import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Connector, ConnectorCheck } from '../connector';
import { probeWritable } from '../write-probe';
import { LocalCeHost } from './local-ce-host';
import { LocalVmHost } from './local-vm-host';

/** The embedded default connector: VMs and disks live in a storage pool folder on the appliance. */
export const localConnectorSettings = z.object({
  storagePool: z.string().min(1, 'storage pool folder is required'),
});
export type LocalConnectorSettings = z.infer<typeof localConnectorSettings>;

export class LocalConnector implements Connector {
  readonly type = 'local';
  readonly vms: LocalVmHost;
  readonly ce: LocalCeHost;

  constructor(private readonly settings: LocalConnectorSettings) {
    this.vms = new LocalVmHost(settings.storagePool);
    this.ce = new LocalCeHost(this.vms);
  }

  async test(): Promise<ConnectorCheck[]> {
    const pool = this.settings.storagePool;
    if (!path.isAbsolute(pool)) {
      return [
        { field: 'storagePool', ok: false, message: `storage pool '${pool}' must be an absolute path` },
      ];
    }
    try {
      await fs.mkdir(pool, { recursive: true });
      await probeWritable(pool);
      return [{ field: 'storagePool', ok: true, message: `storage pool ${pool} is writable` }];
    } catch (err) {
      return [
        { field: 'storagePool', ok: false, message: `storage pool ${pool}: ${(err as Error).message}` },
      ];
    }
  }
}

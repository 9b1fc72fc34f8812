import { moRefXml } from './property-collector';
import { waitForTask } from './tasks';
import type { VimClient } from './vim-client';
import { moRefOf, type MoRef } from './vim-fault';
import { fragment, xml } from './xml';

/**
 * Server-side disk copies (VirtualDiskManager.CopyVirtualDisk_Task): a VM gets its own copy of a stored
 * disk without the bytes passing through the appliance. ESXi writes the copy's descriptor for its new
 * name; vcsim copies `name.vmdk` and `name-flat.vmdk` as files, descriptor unchanged, so callers keep
 * the file name and change only the folder, which is right on both.
 */
export async function copyVirtualDisk(
  client: VimClient,
  datacenter: MoRef,
  source: string,
  destination: string,
): Promise<void> {
  const response = await client.invoke(
    'CopyVirtualDisk_Task',
    client.serviceContent.virtualDiskManager,
    fragment(
      xml('sourceName', source),
      moRefXml('sourceDatacenter', datacenter),
      xml('destName', destination),
      moRefXml('destDatacenter', datacenter),
      // A retry after a copy that broke off replaces the partial copy.
      xml('force', true),
    ),
  );
  await waitForTask(client, moRefOf(response.child('returnval')!), `copy disk ${source} to ${destination}`);
}

import fs from 'node:fs/promises';
import path from 'node:path';
import { openDisk } from '../../../disk/open';
import type { EngineDatastoreDestination } from '../../ce-host';
import { DatastoreFiles, retryDroppedConnection, type TransferOptions } from '../datastore-files';
import { extentPath } from '../disk-upload';
import { VimClient } from '../vim-client';
import { sectorsOf, sparseDescriptor } from '../vmdk-descriptor';

/**
 * A Compositing Engine's last step on vSphere: its composed monolithicSparse VMDK, which holds only the
 * image's allocated grains, goes into the datastore as the destination's disk, through vCenter's file
 * service with the session the engine was handed at launch (no vCenter password reaches an engine).
 * Nothing is converted and no zeros travel: what is sent is the sparse file and a descriptor.
 *
 *   <path>.vmdk         descriptor naming one SPARSE extent, written last: its presence means complete
 *   <path>-flat.vmdk    the sparse file itself
 *
 * The extent is named as the `-flat` file of VMware's own layout because vcsim's CopyVirtualDisk copies
 * `<name>.vmdk` and `<name>-flat.vmdk` whatever the descriptor says; ESXi reads the descriptor, for which
 * the name is only a name, and converts the hosted sparse disk to a thin one when a VM gets its copy.
 */
export async function uploadSparseImage(
  destination: EngineDatastoreDestination,
  sessionCookie: string,
  image: string,
  options: TransferOptions = {},
): Promise<{ sentBytes: number }> {
  const disk = await openDisk(image);
  let sectors: number;
  try {
    if (disk.format !== 'vmdk') throw new Error(`${image} is ${disk.format}, not a sparse VMDK`);
    sectors = sectorsOf(disk.virtualSize);
  } finally {
    await disk.close();
  }
  const client = await VimClient.resume({
    server: destination.vcenter,
    trust: destination.trust,
    sessionCookie,
  });
  try {
    const files = new DatastoreFiles(client, {
      ref: { type: 'Datacenter', value: destination.datacenter.ref },
      name: destination.datacenter.name,
    });
    const at = (file: string) => ({ datastore: destination.datastore, path: file });
    const descriptor = at(destination.path);
    const extent = at(extentPath(destination.path, 0));
    await files.makeDirectory(at(path.posix.dirname(destination.path)));
    // A descriptor an earlier attempt left would mark the disk complete while its extent is replaced.
    await files.remove(descriptor);
    const extentBytes = (await fs.stat(image)).size;
    await retryDroppedConnection(() => files.upload(extent, { file: image }, options), options);
    const descriptorFile = path.join(path.dirname(image), `.${path.basename(image)}.descriptor`);
    const text = sparseDescriptor(sectors, path.posix.basename(extent.path));
    await fs.writeFile(descriptorFile, text);
    try {
      await retryDroppedConnection(
        () => files.upload(descriptor, { file: descriptorFile }, { signal: options.signal }),
        options,
      );
    } finally {
      await fs.rm(descriptorFile, { force: true });
    }
    return { sentBytes: extentBytes + Buffer.byteLength(text) };
  } finally {
    // The engine's session ends with its one upload.
    await client.close();
  }
}

import crypto from 'node:crypto';

/**
 * VMDK descriptor text: reading the extent list of any descriptor (ESXi's `vmfs` disks, hosted split
 * disks) and writing the split-flat descriptor Lamina uploads. Binary VMDKs (sparse, streamOptimized)
 * have no descriptor file; `isDescriptor` tells them apart by their first bytes.
 */
export interface VmdkExtent {
  access: string;
  sectors: number;
  /** FLAT, VMFS, SPARSE, VMFSSPARSE, SESPARSE … */
  type: string;
  /** File name relative to the descriptor. */
  file?: string;
}

const SECTOR = 512;
const DESCRIPTOR_MAGIC = '# Disk DescriptorFile';

export function isDescriptor(head: string): boolean {
  return head.startsWith(DESCRIPTOR_MAGIC);
}

export function parseExtents(descriptor: string): VmdkExtent[] {
  const extents: VmdkExtent[] = [];
  for (const line of descriptor.split(/\r?\n/)) {
    const match = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]+)")?/.exec(line.trim());
    if (!match) continue;
    const file = match[4];
    // Extents are downloaded next to the descriptor and read from there: a name that is not a plain
    // file name (`../../etc/shadow`, `/dev/sda`) would write or read outside that folder as root.
    if (file !== undefined && (/[/\\\0]/.test(file) || file === '.' || file === '..'))
      throw new Error(`VMDK descriptor names extent '${file}', which is not a file next to it`);
    extents.push({ access: match[1], sectors: Number(match[2]), type: match[3], file });
  }
  if (extents.length === 0) throw new Error('VMDK descriptor lists no extents');
  return extents;
}

/**
 * A descriptor for raw data in one or more files. One file is ESXi's native layout (createType "vmfs",
 * extent type VMFS); several make the hosted "twoGbMaxExtentFlat" layout, whose extents may have any
 * size. (ZERO extents would spare uploading empty regions, but qemu cannot read them, so every extent
 * is stored.)
 */
export function flatDescriptor(
  extents: { sectors: number; file: string }[],
  adapterType = 'lsilogic',
): string {
  const native = extents.length === 1;
  const totalSectors = extents.reduce((sum, e) => sum + e.sectors, 0);
  // ESXi writes VMFS extents without the offset column that FLAT extents carry.
  const lines = extents.map((e) =>
    native ? `RW ${e.sectors} VMFS "${e.file}"` : `RW ${e.sectors} FLAT "${e.file}" 0`,
  );
  return descriptorText(native ? 'vmfs' : 'twoGbMaxExtentFlat', lines, totalSectors, adapterType);
}

/**
 * A descriptor for one hosted sparse extent (a monolithicSparse file, which holds only its allocated
 * grains): what a Compositing Engine stores on a datastore, and what CopyVirtualDisk turns into a thin
 * disk of the datastore's own kind when a VM gets its copy.
 */
export function sparseDescriptor(sectors: number, file: string, adapterType = 'lsilogic'): string {
  return descriptorText('twoGbMaxExtentSparse', [`RW ${sectors} SPARSE "${file}"`], sectors, adapterType);
}

function descriptorText(
  createType: string,
  extentLines: string[],
  totalSectors: number,
  adapterType: string,
): string {
  // The classic BIOS geometry VMware writes for SCSI disks; ESXi refuses a descriptor without one.
  const heads = 255;
  const sectorsPerTrack = 63;
  const cylinders = Math.min(65535, Math.floor(totalSectors / (heads * sectorsPerTrack)));
  return [
    DESCRIPTOR_MAGIC,
    'version=1',
    `CID=${crypto.randomBytes(4).toString('hex')}`,
    'parentCID=ffffffff',
    `createType="${createType}"`,
    '',
    '# Extent description',
    ...extentLines,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    `ddb.adapterType = "${adapterType}"`,
    `ddb.geometry.cylinders = "${cylinders}"`,
    `ddb.geometry.heads = "${heads}"`,
    `ddb.geometry.sectors = "${sectorsPerTrack}"`,
    'ddb.virtualHWVersion = "13"',
    '',
  ].join('\n');
}

export function sectorsOf(bytes: number): number {
  if (bytes % SECTOR !== 0) throw new Error(`disk size ${bytes} is not a whole number of 512-byte sectors`);
  return bytes / SECTOR;
}

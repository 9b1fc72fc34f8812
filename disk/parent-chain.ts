import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DiskFormatError } from './errors';
import type { VirtualDisk } from './types';

/**
 * Differencing (child) disks: a VHD of type differencing, a VHDX with a parent locator, a VMDK
 * with a parentCID. A child holds the blocks written since it was made; every other block reads
 * as its parent, which may be a child itself. The format reader describes the link (ParentLink);
 * openDisk finds the parent next to the child, checks it is the disk the child was made from, and
 * attaches it (BlockMappedDisk reads through to it).
 *
 * Paths are tried as the formats store them and as qemu-img and Hyper-V write them: a relative
 * path (`.\base.vhdx`, `base.vmdk`) from the child's folder first, then an absolute one. A Windows
 * path (`C:\VMs\base.vhdx`, `\\server\share\base.vhdx`) cannot be followed here; its file name
 * is looked for in the child's folder, as Hyper-V does when a chain was moved together.
 */

/** What a child says about its parent, from its format's metadata. */
export interface ParentLink {
  /** Where the child stores it, for messages: the structure and its byte offset. */
  structure: string;
  offset: number;
  /** The parent's paths as stored, in the order to try them. */
  locations: string[];
  /** The parent's `linkId` (BlockMappedDisk) the child was made against. */
  linkId: string;
  /** What the id is, in words, for messages ("data write GUID", "unique id", "CID"). */
  linkName: string;
}

/** Deeper chains than this are taken for a loop (Hyper-V's own limit is far lower in practice). */
const MAX_CHAIN_DEPTH = 64;

/** The files a stored location may name, in the order to try them; Windows paths by their file name. */
export function parentCandidates(childPath: string, locations: string[]): string[] {
  const folder = path.dirname(path.resolve(childPath));
  const candidates: string[] = [];
  for (const location of locations) {
    const windows = /^[A-Za-z]:[\\/]|^\\\\/.test(location);
    const posix = location.replace(/\\/g, '/');
    if (windows) candidates.push(path.join(folder, path.win32.basename(location)));
    else candidates.push(path.resolve(folder, posix));
  }
  return [...new Set(candidates)];
}

/** The child side of a link (BlockMappedDisk; named by shape so this module does not import it back). */
interface ChildDisk {
  readonly path: string;
  attachParent(parent: VirtualDisk): void;
}

/**
 * Opens `child`'s parent with `open` (openDisk, so a parent that is a child gets its own parent)
 * and attaches it; a parent that is missing, of another disk, or of another size is a
 * DiskFormatError naming the child, the parent looked for and what is wrong. `chain` holds the
 * real paths of the child and the children below it, to refuse a loop. A parent of another size
 * is read as far as the child reaches (past its end: zeros), as qemu reads a VMDK's.
 */
export async function attachParent(
  child: ChildDisk,
  link: ParentLink,
  open: (file: string, chain: string[]) => Promise<VirtualDisk>,
  chain: string[],
): Promise<void> {
  const fail = (detail: string) => new DiskFormatError(child.path, link.structure, link.offset, detail);
  if (chain.length >= MAX_CHAIN_DEPTH)
    throw fail(`the chain of parents is deeper than ${MAX_CHAIN_DEPTH} disks (a loop?)`);
  if (link.locations.length === 0) throw fail('names no parent file (no locator, no file name)');
  const candidates = parentCandidates(child.path, link.locations);
  const wrong: string[] = [];
  for (const candidate of candidates) {
    const real = await fs.realpath(candidate).catch(() => undefined);
    if (!real) continue;
    if (chain.includes(real))
      throw fail(`parent ${candidate} is the disk itself or one of its children (a loop)`);
    const parent = await open(real, [...chain, real]);
    const parentId = (parent as { linkId?: string }).linkId;
    if (parentId !== link.linkId) {
      await parent.close();
      wrong.push(
        `${candidate} is not the disk it was made from (${parentId ? `${link.linkName} ${parentId.replace(/^\w+:/, '')}` : `a ${parent.format} disk without one`}, ` +
          `the child expects ${link.linkName} ${link.linkId.replace(/^\w+:/, '')}: the parent changed or was replaced)`,
      );
      continue;
    }
    child.attachParent(parent);
    return;
  }
  if (wrong.length > 0) throw fail(`parent ${wrong.join('; ')}`);
  throw fail(
    `parent ${link.locations.map((l) => `"${l}"`).join(' or ')} not found (looked for ${candidates.join(', ')})`,
  );
}

/**
 * Self-relative Windows security descriptors (owner, group, DACL), the form NTFS stores. The
 * synthetic gold image and folder-built layers use them to give files real ACLs.
 */

export interface Ace {
  type: 'allow' | 'deny';
  /** SID string, e.g. `S-1-5-32-544` (BUILTIN\Administrators). */
  sid: string;
  /** Access mask, e.g. 0x1f01ff (full control), 0x1200a9 (read and execute). */
  mask: number;
  /** Inherited by files (object inherit, 0x1) and folders (container inherit, 0x2). */
  inherit?: boolean;
}

export interface SecurityDescriptor {
  owner: string;
  group: string;
  dacl: Ace[];
}

export const WellKnownSid = {
  system: 'S-1-5-18',
  administrators: 'S-1-5-32-544',
  users: 'S-1-5-32-545',
  everyone: 'S-1-1-0',
  trustedInstaller: 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464',
} as const;

const SE_DACL_PRESENT = 0x0004;
const SE_SELF_RELATIVE = 0x8000;
const ACE_TYPES = { allow: 0, deny: 1 } as const;
const OBJECT_AND_CONTAINER_INHERIT = 0x03;

export function encodeSid(sid: string): Buffer {
  const match = /^S-1-(\d+)((?:-\d+)*)$/.exec(sid);
  if (!match) throw new Error(`invalid SID ${sid}`);
  const subAuthorities = match[2].split('-').filter(Boolean).map(Number);
  const buffer = Buffer.alloc(8 + 4 * subAuthorities.length);
  buffer.writeUInt8(1, 0);
  buffer.writeUInt8(subAuthorities.length, 1);
  buffer.writeUIntBE(Number(match[1]), 2, 6);
  subAuthorities.forEach((value, i) => buffer.writeUInt32LE(value, 8 + 4 * i));
  return buffer;
}

function encodeAce(ace: Ace): Buffer {
  const sid = encodeSid(ace.sid);
  const header = Buffer.alloc(8);
  header.writeUInt8(ACE_TYPES[ace.type], 0);
  header.writeUInt8(ace.inherit ? OBJECT_AND_CONTAINER_INHERIT : 0, 1);
  header.writeUInt16LE(8 + sid.length, 2);
  header.writeUInt32LE(ace.mask >>> 0, 4);
  return Buffer.concat([header, sid]);
}

function encodeAcl(aces: Ace[]): Buffer {
  const body = Buffer.concat(aces.map(encodeAce));
  const header = Buffer.alloc(8);
  header.writeUInt8(2, 0);
  header.writeUInt16LE(8 + body.length, 2);
  header.writeUInt16LE(aces.length, 4);
  return Buffer.concat([header, body]);
}

export function encodeSecurityDescriptor(descriptor: SecurityDescriptor): Buffer {
  const owner = encodeSid(descriptor.owner);
  const group = encodeSid(descriptor.group);
  const dacl = encodeAcl(descriptor.dacl);
  const header = Buffer.alloc(20);
  header.writeUInt8(1, 0);
  header.writeUInt16LE(SE_SELF_RELATIVE | SE_DACL_PRESENT, 2);
  header.writeUInt32LE(20, 4);
  header.writeUInt32LE(20 + owner.length, 8);
  header.writeUInt32LE(0, 12);
  header.writeUInt32LE(20 + owner.length + group.length, 16);
  return Buffer.concat([header, owner, group, dacl]);
}

/** Administrators and SYSTEM full control, Users read and execute: what Windows gives program files. */
export const DEFAULT_DESCRIPTOR: SecurityDescriptor = {
  owner: WellKnownSid.administrators,
  group: WellKnownSid.system,
  dacl: [
    { type: 'allow', sid: WellKnownSid.system, mask: 0x1f01ff, inherit: true },
    { type: 'allow', sid: WellKnownSid.administrators, mask: 0x1f01ff, inherit: true },
    { type: 'allow', sid: WellKnownSid.users, mask: 0x1200a9, inherit: true },
  ],
};

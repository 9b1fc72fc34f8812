import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Extent, VirtualDisk } from '../disk';
import { ntfsCoreBinary } from './native';
import { ComposeError } from './errors';

/**
 * A layer disk read over iSCSI (ARCHITECTURE.md §5: the compositor's inputs are block devices behind
 * one interface, a local VHDX or an iSCSI LUN). The NTFS core logs in itself (libiscsi, in userspace:
 * native/ntfs/iscsi-device.c) for every volume it reads; this process reads the LUN only for what is
 * not a volume, its partition table, through the core as well (`lamina_ntfs read`).
 */
export interface IscsiLun {
  /** `host:port` of the target's portal. */
  portal: string;
  iqn: string;
  lun: number;
  /** The initiator name the target's ACL admits. */
  initiator: string;
  chap?: { user: string; secret: string };
  /** Mutual CHAP: what the target must present back. */
  targetChap?: { user: string; secret: string };
  /** Seconds a login or a read may take before the core gives up (default 15). */
  timeoutSeconds?: number;
}

/** A layer as the compositor takes it: a layer disk file, or a LUN showing one. */
export type LayerInput = string | IscsiLun;

/** `iscsi://host:port/iqn/lun`: how messages and reports name a LUN (never with credentials). */
export function lunUrl(lun: IscsiLun): string {
  return `iscsi://${lun.portal}/${lun.iqn}/${lun.lun}`;
}

/**
 * A layer as a command line names it: a file, or `iscsi://HOST:PORT/IQN/LUN` with the initiator name
 * and CHAP credentials from the environment the core reads them from (LAMINA_ISCSI_INITIATOR,
 * LAMINA_ISCSI_CHAP_USER, LAMINA_ISCSI_CHAP_SECRET), never from the URL.
 */
export function parseLayerInput(text: string, env: NodeJS.ProcessEnv = process.env): LayerInput {
  if (!text.startsWith('iscsi://')) return text;
  const match = /^iscsi:\/\/([^/@]+)\/([^/]+)\/(\d+)$/.exec(text);
  if (!match)
    throw new ComposeError(`${text}: not an iSCSI URL like iscsi://host:3260/iqn.2024-01.example:target/1`);
  const [, portal, iqn, lun] = match;
  const user = env.LAMINA_ISCSI_CHAP_USER;
  return {
    portal: portal.includes(':') ? portal : `${portal}:3260`,
    iqn,
    lun: Number(lun),
    initiator: env.LAMINA_ISCSI_INITIATOR || 'iqn.2024-01.org.lamina:initiator',
    ...(user ? { chap: { user, secret: env.LAMINA_ISCSI_CHAP_SECRET ?? '' } } : {}),
  };
}

export function layerInputName(input: LayerInput): string {
  return typeof input === 'string' ? input : lunUrl(input);
}

/** The core's name for `size` bytes of the LUN from `start` (size 0: to its end). */
export function lunDeviceName(lun: IscsiLun, start: number, size: number): string {
  return `iscsi:${start}:${size}:${lunUrl(lun)}`;
}

/** What the core reads its iSCSI settings from (native/ntfs/iscsi-device.h). */
export function lunEnvironment(lun: IscsiLun): Record<string, string> {
  return {
    LAMINA_ISCSI_INITIATOR: lun.initiator,
    LAMINA_ISCSI_CHAP_USER: lun.chap?.user ?? '',
    LAMINA_ISCSI_CHAP_SECRET: lun.chap?.secret ?? '',
    LAMINA_ISCSI_TARGET_CHAP_USER: lun.targetChap?.user ?? '',
    LAMINA_ISCSI_TARGET_CHAP_SECRET: lun.targetChap?.secret ?? '',
    LAMINA_ISCSI_TIMEOUT: String(lun.timeoutSeconds ?? 15),
  };
}

/**
 * The LUN as a raw VirtualDisk, read through one `lamina_ntfs read` child: it logs in once, answers the
 * LUN's size, then {offset, length} requests one at a time.
 */
class IscsiDisk implements VirtualDisk {
  readonly format = 'raw' as const;
  readonly sectorSize = 512;
  private pending = Buffer.alloc(0);
  private waiting: { bytes: number; resolve: (data: Buffer) => void; reject: (err: Error) => void }[] = [];
  private failure: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  virtualSize = 0;

  constructor(
    readonly path: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.deliver();
    });
    child.stdin.on('error', () => undefined); // the exit below says why
    child.on('close', (code, signal) => {
      const said = Buffer.concat(stderr)
        .toString('utf8')
        .trim()
        .replace(/^lamina_ntfs: /gm, '');
      this.failure = new ComposeError(
        said || `${path}: the iSCSI reader ended (${signal ?? `exit code ${code}`})`,
      );
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
    });
  }

  private deliver(): void {
    while (this.waiting.length > 0 && this.pending.length >= this.waiting[0].bytes) {
      const waiter = this.waiting.shift()!;
      waiter.resolve(Buffer.from(this.pending.subarray(0, waiter.bytes)));
      this.pending = this.pending.subarray(waiter.bytes);
    }
  }

  private receive(bytes: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ bytes, resolve, reject });
      this.deliver();
    });
  }

  async start(): Promise<void> {
    this.virtualSize = Number((await this.receive(8)).readBigUInt64LE(0));
  }

  get allocatedBytes(): number {
    return this.virtualSize;
  }

  /** A LUN does not say which of its blocks hold data: all of it may. */
  extents(): Extent[] {
    return [{ offset: 0, length: this.virtualSize }];
  }

  read(target: Buffer, offset: number): Promise<void> {
    const request = Buffer.alloc(16);
    request.writeBigUInt64LE(BigInt(offset), 0);
    request.writeBigUInt64LE(BigInt(target.length), 8);
    const read = this.queue.then(async () => {
      this.child.stdin.write(request);
      (await this.receive(target.length)).copy(target);
    });
    this.queue = read.catch(() => undefined);
    return read;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const closed = new Promise((resolve) => this.child.once('close', resolve));
    this.child.stdin.end();
    await closed;
  }
}

/** Logs in to the LUN and opens it for reading; fails with the core's reason (CHAP refused, no portal). */
export async function openIscsiDisk(lun: IscsiLun): Promise<VirtualDisk> {
  const child = spawn(ntfsCoreBinary(), ['read', lunDeviceName(lun, 0, 0)], {
    env: { ...process.env, ...lunEnvironment(lun) },
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams;
  const disk = new IscsiDisk(lunUrl(lun), child);
  await disk.start();
  return disk;
}

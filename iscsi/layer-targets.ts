import { createHash } from 'node:crypto';
import path from 'node:path';
import type { IscsiConfig } from '../config/env';
import { checkChapCredentials, type ChapCredentials } from './chap';
import { RawExportCache, type LayerSource, type RawExport } from './raw-export-cache';
import { startTargetDaemon, type Portal, type TargetDaemon, type TargetDaemonOptions } from './target-daemon';
import { isNotFound } from './tgtadm';

/** Lamina's naming authority in iSCSI qualified names (RFC 3720 §3.2.6.3.1: iqn.<yyyy-mm>.<reversed domain>). */
const IQN_PREFIX = 'iqn.2024-01.org.lamina-appliance';
/** Data per PDU the targets offer: libiscsi's own receive limit, so a 512 KiB READ comes in two PDUs. */
const DATA_SEGMENT_BYTES = 256 * 1024;

export interface LayerTargetSpec {
  /**
   * Names the target, unique among live ones: the task's id. The IQN is `<prefix>:<name>`, lowercase.
   * Letters, digits and '-' only.
   */
  name: string;
  /** One read-only LUN each, numbered from 1 in this order (LUN 0 is tgtd's controller). */
  layers: (LayerSource & { label: string })[];
  /** The only initiator that may log in; omitted, any initiator with the CHAP credentials may. */
  initiatorName?: string;
  /** What the initiator must present (CHAP is always on). */
  chap: ChapCredentials;
  /** Mutual CHAP: the credentials the target presents back to the initiator. */
  targetChap?: ChapCredentials;
}

export interface LayerLun {
  lun: number;
  label: string;
  sha256: string;
  /** The LUN's size in bytes: the layer disk's virtual size. */
  sizeBytes: number;
}

/** What an initiator needs to reach a target (secrets left out: the caller holds those). */
export interface LayerTarget {
  name: string;
  iqn: string;
  portal: Portal;
  luns: LayerLun[];
  chapUser: string;
  targetChapUser?: string;
  initiatorName?: string;
}

export interface CreateOptions {
  signal?: AbortSignal;
  /** Progress of converting layer `layer` (0-based) of `layers` to its raw export; bytes done of total. */
  onProgress?: (progress: { layer: number; layers: number; done: number; total: number }) => void;
}

interface LiveTarget {
  tid: number;
  description: LayerTarget;
  exports: RawExport[];
  /** tgtadm shows no passwords: a digest of the ones set tells whether a repeated create changes them. */
  secretDigest: string;
}

export class LayerTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayerTargetError';
  }
}

export function iqnFor(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,190}$/.test(name))
    throw new LayerTargetError(
      `target name '${name}' must be 1-191 letters, digits or '-', starting with a letter or digit`,
    );
  return `${IQN_PREFIX}:${name.toLowerCase()}`;
}

/**
 * The appliance's iSCSI targets, one per task: each serves the task's layers as read-only LUNs behind
 * CHAP and an initiator-name ACL. tgtd runs only while at least one target exists: the first target
 * starts it, removing the last ends it, so no iSCSI port is open on an appliance doing no offload work.
 * Calls are serialized (target ids and the daemon's start and stop are decided one at a time).
 */
export class LayerTargets {
  private daemon: TargetDaemon | undefined;
  private readonly live = new Map<string, LiveTarget>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly daemonOptions: TargetDaemonOptions,
    private readonly cache: RawExportCache,
  ) {}

  /**
   * Creates the target `spec` describes, converting layers the cache does not hold yet. Idempotent:
   * a live target of the same name serving the same layers with the same credentials is returned as it
   * is; one that differs is replaced. Nothing is left behind when it fails half-way.
   */
  create(spec: LayerTargetSpec, options: CreateOptions = {}): Promise<LayerTarget> {
    return this.serialized(async () => {
      const iqn = iqnFor(spec.name);
      checkChapCredentials(spec.chap);
      if (spec.targetChap) checkChapCredentials(spec.targetChap);
      if (spec.layers.length === 0)
        throw new LayerTargetError(`target ${spec.name} needs at least one layer`);
      if (spec.initiatorName !== undefined && !/^(iqn|eui|naa)\.[^\s,]+$/.test(spec.initiatorName))
        throw new LayerTargetError(
          `initiator name '${spec.initiatorName}' is not an iqn., eui. or naa. name`,
        );

      const existing = this.live.get(spec.name);
      if (existing && this.matches(existing, spec)) return existing.description;
      if (existing) await this.teardown(spec.name, existing);

      const exports: RawExport[] = [];
      let tid: number | undefined;
      try {
        for (const [index, layer] of spec.layers.entries()) {
          exports.push(
            await this.cache.acquire(layer, {
              signal: options.signal,
              onProgress: (p) => options.onProgress?.({ layer: index, layers: spec.layers.length, ...p }),
            }),
          );
        }
        const daemon = await this.ensureDaemon();
        const { tgtadm } = daemon;
        tid = Math.max(0, ...(await tgtadm.targets()).map((t) => t.tid)) + 1;
        await tgtadm.newTarget(tid, iqn);
        // tgtd sends a read's data in PDUs of at most 8 KiB unless told otherwise: 64 PDUs (and as many
        // writes to the socket by its one network thread) for each 512 KiB READ.
        for (const key of ['MaxXmitDataSegmentLength', 'MaxRecvDataSegmentLength', 'MaxBurstLength'])
          await tgtadm.setTargetParameter(tid, key, String(DATA_SEGMENT_BYTES));
        for (const [index, exported] of exports.entries()) {
          // The serial number is the layer's hash: an initiator can check it reads the layer it expects.
          // Thin provisioning reports the export's holes (GET LBA STATUS), so a reader skips what the layer
          // never wrote instead of reading zeros over the network.
          await tgtadm.newReadOnlyLun(tid, index + 1, exported.file, {
            vendor_id: 'Lamina',
            product_id: 'Layer',
            scsi_sn: exported.sha256.slice(0, 32),
            thin_provisioning: '1',
          });
        }
        const accounts = [spec.chap.user, ...(spec.targetChap ? [spec.targetChap.user] : [])];
        for (const user of accounts) await tgtadm.deleteAccount(user).catch(ignoreNotFound);
        await tgtadm.newAccount(spec.chap.user, spec.chap.secret);
        await tgtadm.bindAccount(tid, spec.chap.user);
        if (spec.targetChap) {
          await tgtadm.newAccount(spec.targetChap.user, spec.targetChap.secret);
          await tgtadm.bindAccount(tid, spec.targetChap.user, { outgoing: true });
        }
        // Last: until an initiator is bound the target admits nobody, so it opens only once complete.
        if (spec.initiatorName) await tgtadm.bindInitiator(tid, spec.initiatorName);
        else await tgtadm.bindAnyInitiator(tid);
      } catch (err) {
        if (tid !== undefined && this.daemon) {
          await this.daemon.tgtadm.deleteTarget(tid).catch(ignoreNotFound);
          await this.deleteAccounts(spec.chap, spec.targetChap);
        }
        for (const exported of exports) exported.release();
        await this.cache.trim();
        await this.stopDaemonIfIdle();
        throw err;
      }
      const description: LayerTarget = {
        name: spec.name,
        iqn,
        portal: this.daemonOptions.portal,
        luns: spec.layers.map((layer, index) => ({
          lun: index + 1,
          label: layer.label,
          sha256: layer.sha256,
          sizeBytes: exports[index].virtualSize,
        })),
        chapUser: spec.chap.user,
        targetChapUser: spec.targetChap?.user,
        initiatorName: spec.initiatorName,
      };
      this.live.set(spec.name, { tid, description, exports, secretDigest: secretDigest(spec) });
      return description;
    });
  }

  /** Removes the target `name` and its CHAP accounts; answers false when there was none (a no-op). */
  remove(name: string): Promise<boolean> {
    return this.serialized(async () => {
      const target = this.live.get(name);
      if (!target) return false;
      await this.teardown(name, target);
      await this.stopDaemonIfIdle();
      return true;
    });
  }

  /** Settles when the running tgtd exits (stopped, or ended by itself); never while none runs. */
  daemonExited(): Promise<void> {
    return this.daemon?.exited ?? new Promise(() => undefined);
  }

  /** The live targets. */
  list(): LayerTarget[] {
    return [...this.live.values()].map((t) => t.description);
  }

  /** Removes every target and ends tgtd (the appliance stopping). */
  close(): Promise<void> {
    return this.serialized(async () => {
      for (const [name, target] of this.live) await this.teardown(name, target);
      await this.stopDaemonIfIdle();
    });
  }

  private async teardown(name: string, target: LiveTarget): Promise<void> {
    if (this.daemon) {
      await this.daemon.tgtadm.deleteTarget(target.tid).catch(ignoreNotFound);
      await this.deleteAccounts(
        { user: target.description.chapUser },
        target.description.targetChapUser ? { user: target.description.targetChapUser } : undefined,
      );
    }
    for (const exported of target.exports) exported.release();
    this.live.delete(name);
    await this.cache.trim();
  }

  private async deleteAccounts(...accounts: ({ user: string } | undefined)[]): Promise<void> {
    for (const account of accounts) {
      if (account) await this.daemon?.tgtadm.deleteAccount(account.user).catch(ignoreNotFound);
    }
  }

  private matches(existing: LiveTarget, spec: LayerTargetSpec): boolean {
    const d = existing.description;
    return (
      d.chapUser === spec.chap.user &&
      d.targetChapUser === spec.targetChap?.user &&
      d.initiatorName === spec.initiatorName &&
      d.luns.length === spec.layers.length &&
      d.luns.every((lun, i) => lun.sha256 === spec.layers[i].sha256 && lun.label === spec.layers[i].label) &&
      existing.secretDigest === secretDigest(spec)
    );
  }

  private async ensureDaemon(): Promise<TargetDaemon> {
    if (this.daemon) return this.daemon;
    const daemon = await startTargetDaemon(this.daemonOptions);
    this.daemon = daemon;
    // A daemon that dies serves nothing more: its targets are gone with it.
    void daemon.exited.then(() => {
      if (this.daemon !== daemon) return;
      this.daemon = undefined;
      for (const [name, target] of this.live) {
        for (const exported of target.exports) exported.release();
        this.live.delete(name);
      }
    });
    return daemon;
  }

  private async stopDaemonIfIdle(): Promise<void> {
    if (this.live.size > 0 || !this.daemon) return;
    const daemon = this.daemon;
    this.daemon = undefined;
    await daemon.stop();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** The appliance's targets as configured (LAMINA_ISCSI_*): exports cached under `<state>/exports`. */
export function configuredLayerTargets(config: IscsiConfig): LayerTargets {
  return new LayerTargets(
    { portal: config.portal, controlPort: config.controlPort, stateDir: config.stateDir },
    new RawExportCache(path.join(config.stateDir, 'exports'), config.cacheMaxBytes),
  );
}

function secretDigest(spec: LayerTargetSpec): string {
  return createHash('sha256')
    .update(`${spec.chap.secret}\0${spec.targetChap?.secret ?? ''}`)
    .digest('hex');
}

function ignoreNotFound(err: unknown): void {
  if (!isNotFound(err)) throw err;
}

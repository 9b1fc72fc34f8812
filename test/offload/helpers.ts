import fs from 'node:fs';
import path from 'node:path';
import { compose } from '../../compositor/compose';
import { getVersion } from '../../db/layer-versions';
import { freePort } from '../../lib/processes';
import { eventually, type Appliance } from '../workflows/fixtures';
import { tgtadmShow } from '../iscsi/helpers';

/**
 * What the offload tests count after every task: Compositing Engines (their pid files in the storage
 * pool and their records), the appliance's iSCSI targets, and stored disks.
 */

/** An appliance environment with its own iSCSI portal and tgtd control port (test files run side by side). */
export async function offloadEnvironment(
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const port = await freePort();
  return {
    LAMINA_ISCSI_HOST: '127.0.0.1',
    LAMINA_ISCSI_PORT: String(port),
    // tgtd's control ports go up to 32767; a port from the kernel's ephemeral range is folded into it.
    LAMINA_ISCSI_CONTROL_PORT: String(port % 32768),
    ...extra,
  };
}

export function storagePool(app: Appliance): string {
  return path.join(app.config.dataDir, 'pool');
}

/** Ids of the engines whose pid files are in the local connector's pool. */
export function engineIds(app: Appliance): string[] {
  const dir = path.join(storagePool(app), 'engines');
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.pid'))
        .map((f) => f.slice(0, -4))
    : [];
}

export function engineFiles(app: Appliance): string[] {
  const dir = path.join(storagePool(app), 'engines');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

export async function engineRecords(app: Appliance): Promise<number> {
  const { rows } = await app.stack.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM compositing_engines',
  );
  return rows[0].n;
}

/** The targets tgtd lists ('' when no tgtd runs: the last target's removal ends it). */
export function targetsShown(app: Appliance): string {
  return tgtadmShow(app.config.iscsi.controlPort);
}

/** Pids of lamina_ntfs processes whose parent is `pid`: an engine composing. */
export function coreChildrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && stat.includes('(lamina_ntfs)')) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** The pid an engine's pid file records. */
export function enginePid(app: Appliance, engineId: string): number {
  const file = path.join(storagePool(app), 'engines', `${engineId}.pid`);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }).pid;
}

/** Waits until an engine is composing (its lamina_ntfs children run) and answers its pid. */
export async function composingEngine(app: Appliance): Promise<number> {
  return eventually(async () => {
    for (const id of engineIds(app)) {
      const pid = enginePid(app, id);
      if (coreChildrenOf(pid).length > 0) return pid;
    }
    return undefined;
  }, 300_000);
}

/** The same template composed on the appliance, from the layer files, for comparison. */
export async function localCompose(
  app: Appliance,
  layers: { os: string; apps: string[] },
  out: string,
  sizeGb: number,
): Promise<void> {
  const disk = async (id: string) => (await getVersion(app.stack.pool, id))!.diskPath!;
  await compose({
    os: await disk(layers.os),
    apps: await Promise.all(layers.apps.map(disk)),
    size: sizeGb * 2 ** 30,
    firmware: 'uefi',
    format: 'vhdx',
    out,
  });
}

import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { getVersion } from '../db/layer-versions';
import { deriveChapCredentials, LayerTargetError, type LayerTarget, type LayerTargets } from '../iscsi';

export interface IscsiTargetDeps {
  pool: Pool;
  /** The appliance's iSCSI targets (iscsi/): this worker process's tgtd, started with the first target. */
  iscsiTargets: LayerTargets;
  /** The key each task's CHAP secrets derive from (iscsi/chap.ts); never leaves the appliance. */
  iscsiChapKey: Buffer;
}

export interface CreateIscsiTargetInput {
  /** The task's id (its workflow id): names the target (IQN) and derives its one-time CHAP secrets. */
  targetName: string;
  /** Layer versions to serve as LUN 1, 2, … in this order: Deployable, with a stored disk. */
  layerVersionIds: string[];
  /** IQN of the Compositing Engine's initiator: the only one the target admits. */
  initiatorName: string;
  /** Mutual CHAP: the target proves itself to the initiator too. */
  mutualChap?: boolean;
}

/**
 * The offloadCompose task's iSCSI target (ARCHITECTURE.md §6). Results carry the IQN, portal, LUN map
 * and CHAP user names, never a secret: whoever hands the Compositing Engine its secret derives it from
 * the task's id (deriveChapCredentials with the same key), so no secret reaches Temporal history.
 */
export function createIscsiTargetActivities(deps: IscsiTargetDeps) {
  return {
    /**
     * Creates (or, repeated, returns) the task's target, converting layers to raw exports the appliance
     * does not hold yet; heartbeats the conversion's progress. The workflow registers removeIscsiTarget
     * as its compensation before calling this.
     */
    async createIscsiTarget(input: CreateIscsiTargetInput): Promise<LayerTarget> {
      const layers = [];
      for (const id of input.layerVersionIds) {
        const version = await getVersion(deps.pool, id);
        if (!version) throw new LayerTargetError(`layer version ${id} does not exist`);
        if (version.state !== 'Deployable' || !version.diskPath || !version.sha256)
          throw new LayerTargetError(
            `layer version ${version.layerName} ${version.version} (${id}) is ${version.state}, not Deployable with a stored disk`,
          );
        layers.push({
          path: version.diskPath,
          sha256: version.sha256,
          label: `${version.layerName} ${version.version}`,
        });
      }
      const context = Context.current();
      return deps.iscsiTargets.create(
        {
          name: input.targetName,
          layers,
          initiatorName: input.initiatorName,
          chap: deriveChapCredentials(deps.iscsiChapKey, input.targetName, 'initiator'),
          targetChap: input.mutualChap
            ? deriveChapCredentials(deps.iscsiChapKey, input.targetName, 'target')
            : undefined,
        },
        {
          signal: context.cancellationSignal,
          onProgress: ({ layer, layers: total, done, total: bytes }) =>
            context.heartbeat({ phase: `export layer ${layer + 1} of ${total}`, done, total: bytes }),
        },
      );
    },

    /** Removes the task's target and its CHAP accounts; one that does not exist is a no-op (compensation). */
    async removeIscsiTarget(input: { targetName: string }): Promise<{ removed: boolean }> {
      return { removed: await deps.iscsiTargets.remove(input.targetName) };
    },
  };
}

export type IscsiTargetActivities = ReturnType<typeof createIscsiTargetActivities>;

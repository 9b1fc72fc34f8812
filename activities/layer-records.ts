import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import {
  createVersion,
  deleteVersion,
  getVersion,
  latestDeployableVersion,
  markDeployable,
  setVersionState,
  type DeployableDisk,
} from '../db/layer-versions';
import { layerBinding } from '../db/layers';
import type { LayerType, VersionState } from '../domain/layers';
import { removeWithLeftovers } from './leftovers';

export interface LayerRecordsDeps {
  pool: Pool;
  repositoryDir: string;
}

export interface PrepareVersionInput {
  versionId: string;
  layerId: string;
  version: string;
  description?: string;
  /** App and platform layers: the OS layer version to build on; the OS layer's newest Deployable one when unset. */
  osVersionId?: string;
  taskId: string;
}

/** Everything the workflow needs about a version it is creating; paths, never contents. */
export interface PreparedVersion {
  versionId: string;
  layerName: string;
  layerType: LayerType;
  version: string;
  creationSeq: number;
  /** Where the finished layer disk goes in the repository. */
  diskPath: string;
  os?: { versionId: string; diskPath: string };
}

/**
 * Layer version records in Postgres and their files in the repository. Ids come from the workflow,
 * so each of these can run twice with the same effect.
 */
export function createLayerRecordActivities(deps: LayerRecordsDeps) {
  const diskPathOf = (layerId: string, versionId: string) =>
    path.join(deps.repositoryDir, 'layers', layerId, `${versionId}.vhdx`);

  return {
    async prepareLayerVersion(input: PrepareVersionInput): Promise<PreparedVersion> {
      const layer = await layerBinding(deps.pool, input.layerId);
      if (!layer)
        throw ApplicationFailure.nonRetryable(`layer ${input.layerId} does not exist`, 'LayerMissing');
      let os: PreparedVersion['os'];
      if (layer.type !== 'os') {
        const osVersion = input.osVersionId
          ? await getVersion(deps.pool, input.osVersionId)
          : await latestDeployableVersion(deps.pool, layer.osLayerId!);
        if (
          !osVersion ||
          osVersion.state !== 'Deployable' ||
          !osVersion.diskPath ||
          osVersion.layerId !== layer.osLayerId
        ) {
          throw ApplicationFailure.nonRetryable(
            `the layer's OS layer has no Deployable version${input.osVersionId ? ` ${input.osVersionId}` : ''} to build on`,
            'OsVersionNotDeployable',
          );
        }
        os = { versionId: osVersion.id, diskPath: osVersion.diskPath };
      }
      const row = await createVersion(deps.pool, {
        ...input,
        id: input.versionId,
        osVersionId: os?.versionId,
      });
      await fs.mkdir(path.dirname(diskPathOf(input.layerId, input.versionId)), { recursive: true });
      return {
        versionId: row.id,
        layerName: row.layerName,
        layerType: row.layerType,
        version: row.version,
        creationSeq: row.creationSeq,
        diskPath: diskPathOf(input.layerId, input.versionId),
        os,
      };
    },

    /** Prerequisite layer versions of a packaging machine: each must be Deployable. */
    async deployableDisks(versionIds: string[]): Promise<string[]> {
      const disks: string[] = [];
      for (const id of versionIds) {
        const v = await getVersion(deps.pool, id);
        if (!v || v.state !== 'Deployable' || !v.diskPath) {
          throw ApplicationFailure.nonRetryable(
            `layer version ${id} is not Deployable`,
            'VersionNotDeployable',
          );
        }
        disks.push(v.diskPath);
      }
      return disks;
    },

    async setLayerVersionState(versionId: string, state: VersionState, action?: unknown): Promise<void> {
      await setVersionState(deps.pool, versionId, state, action);
    },

    async markLayerVersionDeployable(versionId: string, disk: DeployableDisk): Promise<void> {
      await markDeployable(deps.pool, versionId, disk);
    },

    /** Compensation: the version's disk (and any temporary file next to it) and its record go. */
    async discardLayerVersion(versionId: string, layerId: string): Promise<void> {
      await removeWithLeftovers(diskPathOf(layerId, versionId));
      await deleteVersion(deps.pool, versionId);
    },
  };
}

export type LayerRecordActivities = ReturnType<typeof createLayerRecordActivities>;

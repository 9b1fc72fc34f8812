import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import {
  createVersion,
  deleteVersion,
  deployableVersions,
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
  /**
   * A packaging machine's version starts from the layer's newest Deployable version (recorded as
   * based_on_version_id); other tasks make a version from their own input alone.
   */
  onPreviousVersion?: boolean;
  taskId: string;
}

/** A layer version as a task building on it needs it. */
export interface EarlierVersion {
  versionId: string;
  version: string;
  diskPath: string;
}

/** The layer disks a packaging machine's boot disk is composed of, besides the OS. */
export interface PackagingLayers {
  apps: string[];
  platform?: string;
  /** The same layers by version id, as an offloaded compose serves them. */
  appVersionIds: string[];
  platformVersionId?: string;
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
  /** App and platform layers: the OS layer they are bound to. */
  osLayerId?: string;
  /**
   * The layer's Deployable versions before this one, oldest first (absent in results recorded before
   * versions were built on versions).
   */
  earlier?: EarlierVersion[];
  /** The version this one's packaging machine starts from, when `onPreviousVersion`. */
  basedOn?: EarlierVersion;
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
      const earlier: EarlierVersion[] = (await deployableVersions(deps.pool, input.layerId))
        .filter((v) => v.id !== input.versionId && v.diskPath)
        .map((v) => ({ versionId: v.id, version: v.version, diskPath: v.diskPath! }));
      const basedOn = input.onPreviousVersion ? earlier.at(-1) : undefined;
      const row = await createVersion(deps.pool, {
        ...input,
        id: input.versionId,
        osVersionId: os?.versionId,
        basedOnVersionId: basedOn?.versionId,
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
        ...(layer.osLayerId ? { osLayerId: layer.osLayerId } : {}),
        earlier,
        ...(basedOn ? { basedOn } : {}),
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

    /**
     * The layers a packaging machine's boot disk holds besides its OS version, by kind: app layers
     * (an app's prerequisites; a platform layer is packaged with app layers present, as the
     * reference has it) and at most one platform layer. Each must be Deployable and bound to
     * `osLayerId`.
     */
    async packagingLayers(versionIds: string[], osLayerId: string): Promise<PackagingLayers> {
      const layers: PackagingLayers = { apps: [], appVersionIds: [] };
      for (const id of versionIds) {
        const v = await getVersion(deps.pool, id);
        if (!v || v.state !== 'Deployable' || !v.diskPath)
          throw ApplicationFailure.nonRetryable(
            `layer version ${id} is not Deployable`,
            'VersionNotDeployable',
          );
        const binding = await layerBinding(deps.pool, v.layerId);
        if (v.layerType === 'os' || binding?.osLayerId !== osLayerId)
          throw ApplicationFailure.nonRetryable(
            `${v.layerName} ${v.version} is ${v.layerType === 'os' ? 'an OS layer' : 'bound to another OS layer'}: a packaging machine holds app and platform layers of its own OS layer`,
            'WrongPrerequisite',
          );
        if (v.layerType === 'app') {
          layers.apps.push(v.diskPath);
          layers.appVersionIds.push(id);
        } else if (layers.platform)
          throw ApplicationFailure.nonRetryable(
            'a packaging machine holds one platform layer at most',
            'WrongPrerequisite',
          );
        else {
          layers.platform = v.diskPath;
          layers.platformVersionId = id;
        }
      }
      return layers;
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

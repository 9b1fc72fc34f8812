import fs from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'pg';
import { checkMountPoint } from '../config/host-paths';
import {
  buildElasticFiles,
  ELASTIC_FILE_NAMES,
  ELASTIC_FILES,
  layerFileName,
  LAYERS_FOLDER,
  parseElasticFiles,
  serializeElasticFiles,
  type ElasticPlan,
} from '../connectors/elastic-share/elastic-files';
import { ElasticShareError } from '../connectors/elastic-share/errors';
import { elasticAssignmentsToDeliver } from '../db/elastic-assignments';
import { getElasticShare, type ElasticShare } from '../db/elastic-shares';
import { readFileSet, replaceFileSet } from '../lib/file-set';
import { copyVerified } from './verified-copy';

export interface ElasticSyncDeps {
  pool: Pool;
  /** Lamina's own folders: a share must not be mounted in them. */
  ownDirs: string[];
}

/** What one sync delivers: the plan (ids, names, SIDs; no secrets) and the disks to copy. */
export interface ElasticSyncPlan {
  shareName: string;
  plan: ElasticPlan;
  disks: { versionId: string; diskPath: string; sha256: string; sizeBytes: number }[];
  /** Assigned versions not delivered (no longer Deployable), named for the task's result. */
  skipped: string[];
}

/** The names layer disks are copied under (layerFileName); nothing else in the folder is touched. */
const LAYER_FILE = /^[0-9a-f-]{36}\.vhdx$/;

/**
 * The elastic sync's steps against one share (ARCHITECTURE.md §6): copy each assigned layer disk under
 * its stable name and check its hash, write the three files as one set, remove layers no longer
 * assigned. Each step can run again with the same effect.
 */
export function createElasticSyncActivities(deps: ElasticSyncDeps) {
  /** The share's record and its mount point, checked on every step: an unmounted share must not fill our disk. */
  async function mountedShare(shareId: string): Promise<ElasticShare> {
    const share = await getElasticShare(deps.pool, shareId);
    if (!share) throw new ElasticShareError(`elastic layer share ${shareId} does not exist`);
    try {
      await checkMountPoint(share.mountPoint, deps.ownDirs);
    } catch (err) {
      throw new ElasticShareError(
        `elastic layer share '${share.name}' (${share.sharePath}) cannot be reached at ${share.mountPoint}: ${(err as Error).message}`,
      );
    }
    return share;
  }

  return {
    async planElasticSync(shareId: string): Promise<ElasticSyncPlan> {
      const share = await mountedShare(shareId);
      const { layers, assignments, undeliverable } = await elasticAssignmentsToDeliver(deps.pool);
      return {
        shareName: share.name,
        plan: {
          sharePath: share.sharePath,
          layers: layers.map(({ diskPath: _, ...layer }) => layer),
          assignments,
        },
        disks: layers.map((l) => ({
          versionId: l.id,
          diskPath: l.diskPath,
          sha256: l.sha256,
          sizeBytes: l.sizeBytes,
        })),
        skipped: undeliverable.map((v) => `${v.name} version ${v.version} (${v.state})`),
      };
    },

    /** Copies a layer disk to the share's Layers folder under its stable name; see copyVerified. */
    async copyElasticLayer(
      shareId: string,
      disk: ElasticSyncPlan['disks'][number],
    ): Promise<{ copied: boolean; resumedFrom?: number }> {
      const share = await mountedShare(shareId);
      const folder = path.join(share.mountPoint, LAYERS_FOLDER);
      await fs.mkdir(folder, { recursive: true });
      return copyVerified(disk.diskPath, path.join(folder, layerFileName(disk.versionId)), disk.sha256);
    },

    /** Writes ElasticLayerAssignment.json, Layers.json and MachineAssociations.json as one set. */
    async writeElasticFiles(shareId: string, plan: ElasticPlan): Promise<{ generation: string }> {
      const share = await mountedShare(shareId);
      const files = buildElasticFiles(plan);
      await replaceFileSet(share.mountPoint, serializeElasticFiles(files));
      return { generation: files.layers.generation };
    },

    /**
     * Removes layer disks (and partial copies) the share's files do not name: after a sync wrote them,
     * those of versions no longer assigned; after a failed or stopped sync, what it had copied so far.
     * The files are read as one set (lib/file-set.ts), so a disk is never removed while they name it.
     */
    async removeUnassignedElasticLayers(shareId: string): Promise<{ removed: string[] }> {
      const share = await mountedShare(shareId);
      const found = await readFileSet(share.mountPoint, ELASTIC_FILE_NAMES);
      const named = found[ELASTIC_FILES.layers]
        ? parseElasticFiles(found).layers.layers.map((layer) => layerFileName(layer.id))
        : [];
      const wanted = new Set(named);
      const folder = path.join(share.mountPoint, LAYERS_FOLDER);
      const removed: string[] = [];
      for (const name of await fs.readdir(folder).catch(() => [] as string[])) {
        const partial = /^\.(.+)\.partial$/.exec(name);
        const file = partial ? partial[1] : name;
        if (!LAYER_FILE.test(file) || (!partial && wanted.has(file))) continue;
        await fs.rm(path.join(folder, name), { force: true });
        removed.push(name);
      }
      return { removed: removed.sort() };
    },
  };
}

export type ElasticSyncActivities = ReturnType<typeof createElasticSyncActivities>;

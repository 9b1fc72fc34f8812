import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { checkMountPoint } from '../config/host-paths';
import {
  forgetImportedLayer,
  forgetImportedVersion,
  localCounterparts,
  recordImportedLayer,
  recordImportedVersion,
  versionsToExport,
} from '../db/layer-transfers';
import { replaceFileSet } from '../lib/file-set';
import { digestFile } from './file-digest';
import {
  LayerTransferError,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  transferManifest,
  type ManifestEntry,
  type TransferManifest,
} from './layer-transfer-manifest';
import { removeWithLeftovers } from './leftovers';
import { copyVerified } from './verified-copy';

export interface LayerTransferDeps {
  pool: Pool;
  repositoryDir: string;
  /** Lamina's own folders: a transfer share must not be mounted in them. */
  ownDirs: string[];
}

/** The export folder: a folder (plain name) on a share the appliance has mounted. */
export interface TransferFolder {
  mountPoint: string;
  folder: string;
}

export interface ImportPlan {
  /** What to import, in the export's order (OS layers first, then creation order). */
  versions: ManifestEntry[];
  /** Layers of the export this appliance does not have yet. */
  newLayers: string[];
  /** Versions this appliance already has, by name: skipped. */
  skipped: string[];
}

const label = (v: { layerName: string; version: string }) => `layer '${v.layerName}' version ${v.version}`;

/**
 * Layer export and import between appliances (ARCHITECTURE.md §6 layerTransfer). Export copies the
 * chosen versions' disks into a share folder, each checked by hash, then writes the manifest; import
 * checks the manifest and every disk's hash before it changes anything, then copies each version into
 * the repository and records it under the exporter's ids. Each step can run again with the same effect.
 */
export function createLayerTransferActivities(deps: LayerTransferDeps) {
  async function folderPath(where: TransferFolder): Promise<string> {
    if (where.folder !== path.basename(where.folder) || where.folder.startsWith('.')) {
      throw new LayerTransferError(`'${where.folder}' is not a plain folder name`);
    }
    try {
      await checkMountPoint(where.mountPoint, deps.ownDirs);
    } catch (err) {
      throw new LayerTransferError(
        `the transfer share at ${where.mountPoint} cannot be used: ${(err as Error).message}`,
      );
    }
    return path.join(where.mountPoint, where.folder);
  }
  const diskPathOf = (v: ManifestEntry) =>
    path.join(deps.repositoryDir, 'layers', v.layerId, `${v.versionId}.vhdx`);

  return {
    /** The versions to export (each Deployable), OS layers first, then in creation order. */
    async planLayerExport(
      where: TransferFolder,
      versionIds: string[],
    ): Promise<(ManifestEntry & { diskPath: string })[]> {
      const dir = await folderPath(where);
      if (await fs.stat(path.join(dir, MANIFEST_FILE)).catch(() => undefined)) {
        throw new LayerTransferError(`${dir} already holds an export; export into a new folder`);
      }
      const rows = await versionsToExport(deps.pool, versionIds);
      const missing = versionIds.filter((id) => !rows.some((r) => r.versionId === id));
      if (missing.length > 0)
        throw new LayerTransferError(`no layer version has the id ${missing.join(', ')}`);
      const unusable = rows.filter((r) => r.state !== 'Deployable' || !r.diskPath || !r.sha256);
      if (unusable.length > 0) {
        throw new LayerTransferError(
          `only Deployable versions can be exported: ${unusable.map((r) => `${label(r)} is ${r.state}`).join('; ')}`,
        );
      }
      await fs.mkdir(dir, { recursive: true });
      return rows.map(({ state: _, diskPath, ...row }) => ({
        ...row,
        file: `${row.versionId}.vhdx`,
        diskPath: diskPath!,
      }));
    },

    /** Copies one version's disk into the export folder (hash checked); see copyVerified. */
    async exportLayerVersion(
      where: TransferFolder,
      entry: ManifestEntry & { diskPath: string },
    ): Promise<{ resumedFrom?: number }> {
      const dir = await folderPath(where);
      const { resumedFrom } = await copyVerified(entry.diskPath, path.join(dir, entry.file), entry.sha256);
      return resumedFrom ? { resumedFrom } : {};
    },

    /** Written last, whole or not at all: its presence marks a complete export. */
    async writeTransferManifest(where: TransferFolder, versions: ManifestEntry[]): Promise<void> {
      const dir = await folderPath(where);
      const manifest: TransferManifest = transferManifest.parse({ format: MANIFEST_FORMAT, versions });
      await replaceFileSet(dir, { [MANIFEST_FILE]: JSON.stringify(manifest, null, 2) + '\n' });
    },

    /** Compensation of an export: the disks it copied (whole or partial) and the manifest; the folder if empty. */
    async removeExport(where: TransferFolder, files: string[]): Promise<void> {
      const dir = await folderPath(where);
      for (const file of [...files, MANIFEST_FILE])
        await removeWithLeftovers(path.join(dir, path.basename(file)));
      await fs.rmdir(dir).catch(() => undefined);
    },

    /**
     * Reads and checks an export before anything is imported: the manifest, every disk's size and
     * SHA-256, each app or platform layer's OS layer (here already or in the export), and layers and
     * versions that exist here under another identity. Versions this appliance has are skipped.
     */
    async planLayerImport(where: TransferFolder): Promise<ImportPlan> {
      const dir = await folderPath(where);
      const text = await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8').catch(() => {
        throw new LayerTransferError(`${dir} holds no ${MANIFEST_FILE}: not a complete layer export`);
      });
      let parsedJson: unknown;
      try {
        parsedJson = JSON.parse(text);
      } catch (err) {
        throw new LayerTransferError(
          `${path.join(dir, MANIFEST_FILE)} is not JSON: ${(err as Error).message}`,
        );
      }
      const parsed = transferManifest.safeParse(parsedJson);
      if (!parsed.success) {
        throw new LayerTransferError(
          `${path.join(dir, MANIFEST_FILE)} is not a layer export manifest: ${parsed.error.message}`,
        );
      }
      const { versions } = parsed.data;

      const total = versions.reduce((sum, v) => sum + v.sizeBytes, 0);
      let done = 0;
      for (const v of versions) {
        const file = path.join(dir, v.file);
        const digest = await digestFile(file).catch(() => {
          throw new LayerTransferError(`the export lacks ${v.file}, the disk of ${label(v)}`);
        });
        if (digest.sha256 !== v.sha256 || digest.sizeBytes !== v.sizeBytes) {
          throw new LayerTransferError(
            `${v.file} (${label(v)}) has SHA-256 ${digest.sha256} and ${digest.sizeBytes} bytes; the manifest says ${v.sha256} and ${v.sizeBytes}`,
          );
        }
        done += v.sizeBytes;
        Context.current().heartbeat({ phase: 'check hashes', done, total });
      }

      const local = await localCounterparts(deps.pool, versions);
      const problems: string[] = [];
      const skipped: string[] = [];
      const toImport: ManifestEntry[] = [];
      const exportedLayers = new Set(versions.map((v) => v.layerId));
      for (const v of versions) {
        const sameName = local.layers.find((l) => l.name === v.layerName);
        if (sameName && sameName.id !== v.layerId) {
          problems.push(
            `a layer named '${v.layerName}' exists here that is not the exported one (another identity)`,
          );
          continue;
        }
        if (
          v.osLayerId &&
          !exportedLayers.has(v.osLayerId) &&
          !local.layers.some((l) => l.id === v.osLayerId)
        ) {
          problems.push(
            `${v.type} layer '${v.layerName}' is bound to OS layer '${v.osLayerName}', which is neither on this appliance nor in the export`,
          );
          continue;
        }
        const mine = local.versions.find((l) => l.id === v.versionId);
        if (mine) {
          if (mine.sha256 !== v.sha256)
            problems.push(`${label(v)} exists here with another disk (SHA-256 ${mine.sha256})`);
          else skipped.push(label(v));
          continue;
        }
        if (local.versions.some((l) => l.layerId === v.layerId && l.version === v.version)) {
          problems.push(`${label(v)} exists here under another identity`);
          continue;
        }
        const builtOnKnown =
          v.osVersionId &&
          (versions.some((e) => e.versionId === v.osVersionId) ||
            local.versions.some((l) => l.id === v.osVersionId));
        toImport.push({ ...v, osVersionId: builtOnKnown ? v.osVersionId : null });
      }
      if (problems.length > 0) throw new LayerTransferError(`nothing was imported: ${problems.join('; ')}`);
      const newLayers = [...new Set(toImport.map((v) => v.layerId))].filter(
        (id) => !local.layers.some((l) => l.id === id),
      );
      return { versions: toImport, newLayers, skipped };
    },

    /** Copies one version's disk into the repository (hash checked) and records it Deployable, with its layer if new. */
    async importLayerVersion(
      where: TransferFolder,
      entry: ManifestEntry,
      newLayer: boolean,
    ): Promise<{ resumedFrom?: number }> {
      const dir = await folderPath(where);
      const diskPath = diskPathOf(entry);
      await fs.mkdir(path.dirname(diskPath), { recursive: true });
      const { resumedFrom } = await copyVerified(path.join(dir, entry.file), diskPath, entry.sha256);
      if (newLayer) await recordImportedLayer(deps.pool, entry);
      await recordImportedVersion(deps.pool, { ...entry, diskPath });
      return resumedFrom ? { resumedFrom } : {};
    },

    /** Compensation of importLayerVersion: its record and disk (with a partial copy). */
    async discardImportedVersion(entry: ManifestEntry): Promise<void> {
      await forgetImportedVersion(deps.pool, entry.versionId);
      await removeWithLeftovers(diskPathOf(entry));
    },

    /** Compensation of a layer the import made: removed once none of its versions is left. */
    async discardImportedLayer(layerId: string): Promise<void> {
      await forgetImportedLayer(deps.pool, layerId);
    },
  };
}

export type LayerTransferActivities = ReturnType<typeof createLayerTransferActivities>;

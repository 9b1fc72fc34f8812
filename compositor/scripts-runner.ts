import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../lib/project-root';
import { encodeRegString, RegType, type RegOperation } from '../registry';
import { withLayer, type OpenedLayer } from './layer-disk';
import { METADATA_FILES } from './layer-metadata';
import type { LayerRegistry } from './registry-merge';
import { applyToVolume, listVolume, readVolumeFile } from './volume';
import type { VolumeOperation } from './volume-operations';

/**
 * Layer scripts in a composed image (ARCHITECTURE.md §5): every layer's `\.lamina\scripts` is copied
 * to FIRST_START_DIR\scripts\NNN-<layer>, numbered lowest priority first, beside a small runner
 * (compositor/first-start/runner.cmd and runner.ps1, kept as source in the repository). A service
 * entry in the SYSTEM hive starts the runner once at the next boot, before logon, as LocalSystem; it
 * runs the scripts in that order, reports through the connector's channel (vSphere guestinfo, or
 * SCRIPTS_REPORT_FILE, which the local connector reads) and removes the entry. An image whose
 * layers carry no scripts gets neither runner nor entry, and a publish does not wait for a report.
 */

export const FIRST_START_DIR = '\\ProgramData\\Lamina\\FirstStart';
/** Where the runner writes its report on C: (`{ok, reportedAt, detail}` as JSON, maybe with a BOM). */
export const SCRIPTS_REPORT_FILE = 'ProgramData\\Lamina\\scripts-report.json';
/** The service entry (HKLM\SYSTEM\CurrentControlSet\Services\<name>) that starts the runner. */
export const FIRST_START_SERVICE = 'LaminaFirstStart';
const RUNNER_FILES = ['runner.cmd', 'runner.ps1'];
const SERVICE_KEY = `HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\${FIRST_START_SERVICE}`;
const RUNNER_SOURCE = path.join(projectRoot(), 'compositor', 'first-start');

export interface PlacedScript {
  layer: string;
  /** Where the script is in the image. */
  path: string;
}

/** A layer's folder under FIRST_START_DIR\scripts: its place in priority, then a file-safe name. */
function layerFolder(index: number, name: string): string {
  return `${String(index + 1).padStart(3, '0')}-${name.replace(/[^A-Za-z0-9._ -]+/g, '_')}`;
}

/** A layer disk's first-start scripts: paths under `\.lamina\scripts`, in the order the runner runs them. */
export async function layerScriptPaths(disk: string): Promise<string[]> {
  const folder = METADATA_FILES.scripts.replace(/\\/g, '/');
  const entries = await withLayer(disk, (layer) => listVolume(layer.volume, folder));
  return entries
    .filter((entry) => !entry.dir)
    .map((entry) => entry.path.slice(folder.length + 1).replace(/\//g, '\\'))
    .sort();
}

/** Every layer's scripts (lowest priority first), as a layer disk holds them. */
async function layerScripts(layers: OpenedLayer[]): Promise<{ layer: string; files: VolumeOperation[] }[]> {
  const folder = METADATA_FILES.scripts.replace(/\\/g, '/');
  const found = [];
  for (const [index, layer] of layers.entries()) {
    const files: VolumeOperation[] = [];
    for (const entry of await listVolume(layer.volume, folder)) {
      if (entry.dir) continue;
      const relative = entry.path.slice(folder.length + 1).replace(/\//g, '\\');
      files.push({
        op: 'file',
        path: `${FIRST_START_DIR}\\scripts\\${layerFolder(index, layer.metadata.name)}\\${relative}`,
        content: await readVolumeFile(layer.volume, entry.path),
      });
    }
    if (files.length > 0) found.push({ layer: layer.metadata.name, files });
  }
  return found;
}

/** The service entry: own process, automatic start, errors ignored (a failed start must not stop boot). */
function serviceEntry(): RegOperation[] {
  const source = { file: '(first-start runner)', line: 0 };
  const dword = (value: number) => {
    const data = Buffer.alloc(4);
    data.writeUInt32LE(value);
    return data;
  };
  const value = (name: string, type: number, data: Buffer): RegOperation => ({
    ...source,
    kind: 'setValue',
    key: SERVICE_KEY,
    name,
    type,
    data,
  });
  return [
    { ...source, kind: 'createKey', key: SERVICE_KEY },
    value('Type', RegType.DWORD, dword(0x10)),
    value('Start', RegType.DWORD, dword(2)),
    value('ErrorControl', RegType.DWORD, dword(0)),
    value(
      'ImagePath',
      RegType.EXPAND_SZ,
      encodeRegString(`%SystemRoot%\\System32\\cmd.exe /c "%SystemDrive%${FIRST_START_DIR}\\runner.cmd"`),
    ),
    value('ObjectName', RegType.SZ, encodeRegString('LocalSystem')),
    value('DisplayName', RegType.SZ, encodeRegString('Lamina first start (layer scripts)')),
  ];
}

/**
 * Copies the layers' scripts and the runner into the image's volume `target`; answers what was
 * placed and the registry entry to merge with the layers' (none when no layer has scripts).
 */
export async function placeScriptsRunner(
  target: string,
  layers: OpenedLayer[],
  options: { epoch: number; signal?: AbortSignal },
): Promise<{ scripts: PlacedScript[]; registry?: LayerRegistry }> {
  const found = await layerScripts(layers);
  if (found.length === 0) return { scripts: [] };
  const runner: VolumeOperation[] = await Promise.all(
    RUNNER_FILES.map(async (name) => ({
      op: 'file' as const,
      path: `${FIRST_START_DIR}\\${name}`,
      content: await fs.readFile(path.join(RUNNER_SOURCE, name)),
    })),
  );
  await applyToVolume(target, [...found.flatMap((f) => f.files), ...runner], options);
  return {
    scripts: found.flatMap(({ layer, files }) => files.map((f) => ({ layer, path: f.path }))),
    registry: { layer: '(first-start runner)', operations: serviceEntry() },
  };
}

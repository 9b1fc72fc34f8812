import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Task } from '../api/tasks/task-service';
import { makeGoldImage } from '../compositor/gold-image';
import { installInGuest } from '../connectors/local/guest';
import { LocalVmHost } from '../connectors/local/local-vm-host';
import { WORKFLOW_TAG } from '../domain/vm-contract';
import { DEFAULT_LOCAL_CONNECTOR_ID } from '../db/connectors';
import type { PackagingResult } from '../workflows/create-layer-version';
import type { LayerVersionResult } from '../workflows/layer-versions';
import type { PublishImageResult } from '../workflows/publish-image';
import { laminaClient } from './api-client';

const exec = promisify(execFile);
const GiB = 2 ** 30;
const OS_LAYER = 'Windows 11 (demo)';
/** Where the demo mounts its stand-in for the file share while it publishes. */
const DEMO_MOUNT_POINT = '/mnt/lamina-demo-share';

export interface DemoOptions {
  apiUrl: string;
  headers: Record<string, string>;
  /** Where the demo keeps its packages and the folder standing in for the file share. */
  dataDir: string;
  /** A folder of LAMINA_IMPORT_DIRS: the demo makes its gold image there, as an admin would put one. */
  importDir: string;
  /** The local connector's storage pool, where the demo plays the admin inside the packaging machine. */
  storagePool: string;
  /** Base of Temporal Web UI links to each task, when the UI runs. */
  uiBase?: string;
  log: (line: string) => void;
}

/**
 * The demo (README command 1): the product's main job end to end on the embedded defaults, through the
 * API as a client would, playing the admin where App Layering needs one (inside the packaging machine).
 * gold image → OS layer → app layer through the packaging machine → two layer-as-code app layers that
 * conflict on a file and a registry value → platform layer → UEFI VHDX template → publish to a share.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const { log } = options;
  const api = laminaClient(options.apiUrl, options.headers);
  const existing = (
    await api.get<{ items: { id: string }[] }>(`/api/layers?name=${encodeURIComponent(OS_LAYER)}`)
  ).items;
  if (existing.length > 0) {
    log(
      `demo: layers from an earlier run exist in ${options.dataDir}; start with an empty LAMINA_DATA_DIR to run it again`,
    );
    return 0;
  }
  const dir = path.join(options.dataDir, 'demo');
  await fs.mkdir(dir, { recursive: true });
  const started = Date.now();
  const step = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const at = Date.now();
    const result = await work();
    log(`demo: ${what} (${((Date.now() - at) / 1000).toFixed(1)} s)`);
    return result;
  };
  const task = async <T>(what: string, response: Task): Promise<T> => {
    log(
      `demo:   task ${response.id}${options.uiBase ? `  ${options.uiBase}/${encodeURIComponent(response.id)}` : ''}`,
    );
    const done = await api.waitForTask(response.id);
    if (done.state !== 'completed') throw new Error(`${what}: task ${done.state}: ${done.error ?? ''}`);
    return done.result as T;
  };

  await fs.mkdir(options.importDir, { recursive: true });
  const gold = path.join(options.importDir, 'demo-gold.vhdx');
  await step('made a synthetic Windows gold image (UEFI, 2 GiB sparse VHDX)', () =>
    makeGoldImage({ out: gold, firmware: 'uefi', size: 2 * GiB, format: 'vhdx' }),
  );

  const osLayer = await api.post<{ id: string }>('/api/layers', { type: 'os', name: OS_LAYER });
  const os = await step('imported the OS layer', async () =>
    task<LayerVersionResult>(
      'OS import',
      await api.post(`/api/layers/${osLayer.id}/versions/import`, {
        version: '23H2',
        source: { diskPath: gold },
      }),
    ),
  );

  const editor = await api.post<{ id: string }>('/api/layers', {
    type: 'app',
    name: 'Notepad++',
    osLayerId: osLayer.id,
  });
  const packaged = await step(
    'created app layer Notepad++ on a packaging machine (the demo installed it onto C: and HKLM, shut the machine down, and the layer was captured from the difference)',
    async () => {
      const packaging = await api.post<Task>(`/api/layers/${editor.id}/versions/package`, {
        version: '8.6',
        connectorId: DEFAULT_LOCAL_CONNECTOR_ID,
      });
      const installer = await writeTree(path.join(dir, 'notepad-installer'), {
        'Program Files\\Notepad++\\notepad++.exe': 'MZ Notepad++ 8.6 (demo)\n',
        'Program Files\\Notepad++\\readme.txt': 'Installed on the packaging machine.\n',
      });
      const reg = await writeReg(path.join(dir, 'notepad.reg'), { 'Notepad++': ['Version', '8.6'] });
      const host = new LocalVmHost(options.storagePool);
      const vm = await waitForPackagingMachine(host, packaging.id);
      log(`demo:   packaging machine '${vm.name}' is running: installing, then shutting it down`);
      await installInGuest(host, vm.id, { from: installer, reg });
      await host.shutdown(vm.id);
      return task<PackagingResult>('packaging', packaging);
    },
  );
  if (packaged.captured && packaged.elasticFit)
    log(
      `demo:   captured ${packaged.captured.files} file(s), ${packaged.captured.excluded} machine-noise item(s) left out; elastic fit: ${packaged.elasticFit.verdict}`,
    );
  // The machine booted a differencing child of its base disk: the capture read only what the child holds.
  if (packaged.captured?.childOfBaseBytes != null)
    log(
      `demo:   the machine's boot disk was a child of its base: ${(packaged.captured.childOfBaseBytes / 2 ** 20).toFixed(0)} MiB of its volume compared`,
    );

  const asCode = async (
    type: 'app' | 'platform',
    name: string,
    version: string,
    files: Record<string, string>,
    reg: Record<string, [string, string]>,
  ) => {
    const layer = await api.post<{ id: string }>('/api/layers', { type, name, osLayerId: osLayer.id });
    const tree = await writeTree(path.join(dir, `${name}-files`), files);
    const zip = path.join(dir, `${name}.zip`);
    await fs.rm(zip, { force: true });
    await exec('zip', ['-qr', zip, '.'], { cwd: tree });
    const content = await api.upload(zip);
    const regId = await api.upload(await writeReg(path.join(dir, `${name}.reg`), reg));
    return step(`built ${type} layer ${name} from a zip and a .reg file (layer-as-code)`, async () =>
      task<LayerVersionResult>(
        name,
        await api.post(`/api/layers/${layer.id}/versions/build`, { version, content, reg: regId }),
      ),
    );
  };
  // Both write the same file and the same registry value: the layer created later wins, and the report says so.
  const reader = await asCode(
    'app',
    'PDF Reader',
    '2024.1',
    { 'Program Files\\Common Files\\PDF\\handler.ini': 'handler=PDF Reader\n' },
    { 'Classes\\.pdf': ['Handler', 'PDF Reader'] },
  );
  const viewer = await asCode(
    'app',
    'PDF Viewer',
    '5.0',
    { 'Program Files\\Common Files\\PDF\\handler.ini': 'handler=PDF Viewer\n' },
    { 'Classes\\.pdf': ['Handler', 'PDF Viewer'] },
  );
  const platform = await asCode(
    'platform',
    'Citrix VDA',
    '2402',
    { 'Program Files\\Citrix\\VDA\\vda.txt': 'Virtual Delivery Agent (demo)\n' },
    { 'Citrix\\VirtualDesktopAgent': ['ListOfDDCs', 'ddc.example.com'] },
  );
  const editorVersion = (await api.get<{ items: { id: string }[] }>(`/api/layers/${editor.id}/versions`))
    .items[0];

  // A file share connector writes only into a real mount outside Lamina's folders: the demo binds its
  // share folder there for the publish, as cifs-utils would mount the share.
  const share = path.join(options.dataDir, 'share');
  await fs.mkdir(share, { recursive: true });
  await fs.mkdir(DEMO_MOUNT_POINT, { recursive: true });
  await exec('mount', ['--bind', share, DEMO_MOUNT_POINT]).catch((err: Error) => {
    throw new Error(
      `mounting ${share} at ${DEMO_MOUNT_POINT} for the demo share (run as root): ${err.message}`,
    );
  });
  try {
    const connector = await api.post<{ id: string }>('/api/connectors', {
      type: 'fileshare',
      name: 'Demo share',
      settings: { path: '\\\\lamina-demo\\images', mountPoint: DEMO_MOUNT_POINT },
    });
    const template = await api.post<{ id: string }>('/api/templates', {
      name: 'Demo-Desktop',
      osVersionId: os.versionId,
      appVersionIds: [editorVersion.id, reader.versionId, viewer.versionId],
      platformVersionId: platform.versionId,
      connectorId: connector.id,
      diskSizeGb: 4,
      diskFormat: 'VHDX',
      firmware: 'UEFI',
    });
    const image = await step('published the image template (UEFI, VHDX) to the file share', async () =>
      task<PublishImageResult>('publish', await api.post(`/api/templates/${template.id}/publish`, {})),
    );

    log(`demo: image      ${image.location}`);
    log(`demo:   on disk  ${path.join(share, path.basename(image.location.replace(/\\/g, '/')))}`);
    log(`demo:   sha256   ${image.sha256}`);
    log(`demo:   conflicts: ${image.conflicts.files} file(s), ${image.conflicts.registry} registry value(s)`);
    for (const line of image.conflicts.summary) log(`demo:     ${line}`);
  } finally {
    await exec('umount', [DEMO_MOUNT_POINT]);
    await fs.rmdir(DEMO_MOUNT_POINT);
  }
  log(`demo: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

/** The packaging machine the task created: the admin finds it running on the hypervisor. */
async function waitForPackagingMachine(
  host: LocalVmHost,
  taskId: string,
): Promise<{ id: string; name: string }> {
  for (;;) {
    const vm = (await host.listVms()).find((v) => v.tags[WORKFLOW_TAG] === taskId && v.power === 'running');
    if (vm) return vm;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function writeTree(root: string, files: Record<string, string>): Promise<string> {
  await fs.rm(root, { recursive: true, force: true });
  for (const [windowsPath, content] of Object.entries(files)) {
    const file = path.join(root, ...windowsPath.split('\\'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
  return root;
}

/** HKLM\SOFTWARE string values as a .reg file. */
async function writeReg(file: string, values: Record<string, [string, string]>): Promise<string> {
  const lines = ['Windows Registry Editor Version 5.00', ''];
  for (const [key, [name, value]] of Object.entries(values)) {
    lines.push(`[HKEY_LOCAL_MACHINE\\SOFTWARE\\${key}]`, `"${name}"="${value}"`, '');
  }
  await fs.writeFile(file, lines.join('\r\n'));
  return file;
}

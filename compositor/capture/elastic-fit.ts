import { locateKey, parseRegText, RegType, type RegOperation } from '../../registry';
import { withLayer } from '../layer-disk';
import { listVolume } from '../volume';
import { toVolumePath } from '../volume-operations';

/**
 * Whether an app layer can be delivered as an elastic layer: mounted at logon, after Windows has
 * booted and its services have started. The reference (reference-architecture.md, Elastic
 * Layering) rules out applications with kernel drivers, services that boot-time services depend
 * on, and changes to the Windows driver store; what runs before logon or replaces the image's own
 * files cannot come from a layer that arrives after it either. The verdict is computed from a
 * layer's content alone (its files and registry.reg), so a capture and a scan of any layer disk
 * agree.
 */

export interface ElasticFitReason {
  /** kernel-driver | boot-start | system-start | auto-start-service | boot-dependency | driver-store | printer-driver | class-filter | replaces-os-file | deletes-os-file */
  rule: string;
  detail: string;
}

export interface ElasticFit {
  verdict: 'fit' | 'unfit';
  reasons: ElasticFitReason[];
}

export interface LayerContent {
  /** `/`-separated volume paths of the layer's files. */
  files: string[];
  /** Windows paths the layer deletes. */
  deletions: string[];
  registry: RegOperation[];
  /**
   * Whether a path (`/`-separated) exists below the layer: in the OS layer (scan) or on the
   * packaging machine's base disk (capture). Without it, no file counts as the OS's.
   */
  existsBelow?: (volumePath: string) => boolean;
}

/** SERVICE_KERNEL_DRIVER, SERVICE_FILE_SYSTEM_DRIVER, SERVICE_RECOGNIZER_DRIVER. */
const DRIVER_TYPES = new Set([0x1, 0x2, 0x8]);
const START_NAMES: Record<number, string> = { 0: 'boot-start', 1: 'system-start', 2: 'auto-start-service' };

interface ServiceValues {
  start?: number;
  type?: number;
  dependsOn: string[];
  delayed?: number;
}

function dword(op: RegOperation): number | undefined {
  return op.kind === 'setValue' && op.type === RegType.DWORD && op.data.length === 4
    ? op.data.readUInt32LE(0)
    : undefined;
}

function multiString(op: RegOperation): string[] {
  if (op.kind !== 'setValue') return [];
  return op.data
    .toString('utf16le')
    .split('\0')
    .filter((s) => s.length > 0);
}

/** `Services\<name>` of the current (or a numbered) control set: the service's name, or undefined. */
function serviceOf(path: string[]): string | undefined {
  const [controlSet, services, name, ...rest] = path;
  if (!controlSet || !/^(CurrentControlSet|ControlSet\d{3})$/i.test(controlSet)) return undefined;
  return services?.toUpperCase() === 'SERVICES' && name && rest.length === 0 ? name : undefined;
}

function servicesOf(registry: RegOperation[]): Map<string, ServiceValues & { name: string }> {
  const services = new Map<string, ServiceValues & { name: string }>();
  for (const op of registry) {
    if (op.kind !== 'setValue') continue;
    const { hive, path } = locateKey(op.key);
    const name = hive === 'SYSTEM' ? serviceOf(path) : undefined;
    if (!name) continue;
    const service = services.get(name.toUpperCase()) ?? { name, dependsOn: [] };
    services.set(name.toUpperCase(), service);
    const value = op.name.toUpperCase();
    if (value === 'START') service.start = dword(op);
    else if (value === 'TYPE') service.type = dword(op);
    else if (value === 'DELAYEDAUTOSTART') service.delayed = dword(op);
    else if (value === 'DEPENDONSERVICE') service.dependsOn = multiString(op);
  }
  return services;
}

function registryReasons(registry: RegOperation[]): ElasticFitReason[] {
  const reasons: ElasticFitReason[] = [];
  const services = servicesOf(registry);
  for (const service of services.values()) {
    if (service.type !== undefined && DRIVER_TYPES.has(service.type))
      reasons.push({
        rule: 'kernel-driver',
        detail: `service ${service.name} is a driver (Type=${service.type})`,
      });
    const start = service.start;
    if (start !== undefined && START_NAMES[start])
      reasons.push({
        rule: START_NAMES[start],
        detail: `service ${service.name} starts before logon (Start=${start}${service.delayed ? ', delayed' : ''})`,
      });
  }
  // A service of this layer that a service starting before logon needs must be there at boot too.
  for (const service of services.values()) {
    const startsEarly = service.start !== undefined && service.start <= 2;
    for (const needed of service.dependsOn) {
      const dependency = services.get(needed.toUpperCase());
      if (startsEarly && dependency)
        reasons.push({
          rule: 'boot-dependency',
          detail: `service ${dependency.name} is a dependency of ${service.name}, which starts before logon`,
        });
    }
  }
  for (const op of registry) {
    if (op.kind !== 'setValue' && op.kind !== 'createKey') continue;
    const { hive, path } = locateKey(op.key);
    const upper = path.map((p) => p.toUpperCase());
    if (hive === 'SYSTEM' && upper[0] === 'DRIVERDATABASE' && op.kind === 'createKey')
      reasons.push({ rule: 'driver-store', detail: `registers a driver package (${op.key})` });
    if (
      hive === 'SYSTEM' &&
      upper[1] === 'CONTROL' &&
      upper[2] === 'PRINT' &&
      upper.includes('DRIVERS') &&
      op.kind === 'createKey'
    )
      reasons.push({ rule: 'printer-driver', detail: `installs a printer driver (${op.key})` });
    if (
      op.kind === 'setValue' &&
      hive === 'SYSTEM' &&
      upper[1] === 'CONTROL' &&
      upper[2] === 'CLASS' &&
      /^(UPPER|LOWER)FILTERS$/i.test(op.name)
    )
      reasons.push({
        rule: 'class-filter',
        detail: `adds a device class filter driver (${op.key} "${op.name}")`,
      });
  }
  return reasons;
}

function fileReasons(content: LayerContent): ElasticFitReason[] {
  const reasons: ElasticFitReason[] = [];
  for (const file of content.files) {
    const upper = file.toUpperCase();
    if (
      upper.startsWith('/WINDOWS/SYSTEM32/DRIVERSTORE/') ||
      /^\/WINDOWS\/INF\/OEM\d+\.(INF|PNF)$/.test(upper)
    )
      reasons.push({ rule: 'driver-store', detail: `adds ${file} to the driver store` });
    else if (/^\/WINDOWS\/SYSTEM32\/DRIVERS\/[^/]+\.SYS$/.test(upper))
      reasons.push({ rule: 'kernel-driver', detail: `installs the driver ${file}` });
    if (content.existsBelow?.(file))
      reasons.push({
        rule: 'replaces-os-file',
        detail: `replaces ${file}, which the image below already has`,
      });
  }
  for (const deleted of content.deletions) {
    const volumePath = toVolumePath(deleted);
    if (content.existsBelow?.(volumePath))
      reasons.push({ rule: 'deletes-os-file', detail: `deletes ${volumePath}, which the image below has` });
  }
  return reasons;
}

/** The verdict for a layer's content, each reason once. */
export function elasticFitOf(content: LayerContent): ElasticFit {
  const seen = new Set<string>();
  const reasons = [...registryReasons(content.registry), ...fileReasons(content)].filter((reason) => {
    const key = `${reason.rule}\0${reason.detail}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { verdict: reasons.length === 0 ? 'fit' : 'unfit', reasons };
}

/**
 * Scans a layer disk. With `osLayer`, files the layer replaces or deletes there count as changes
 * to the OS's own files.
 */
export async function assessElasticFit(
  layerDisk: string,
  options: { osLayer?: string } = {},
): Promise<ElasticFit> {
  const below = options.osLayer
    ? await withLayer(
        options.osLayer,
        async (os) => new Set((await listVolume(os.volume)).map((e) => e.path.toUpperCase())),
      )
    : undefined;
  return withLayer(layerDisk, async (layer) => {
    const entries = await listVolume(layer.volume);
    return elasticFitOf({
      files: entries.filter((e) => !e.dir).map((e) => e.path),
      deletions: layer.deletions,
      registry: layer.registry
        ? parseRegText(layer.registry, `${layer.metadata.name}: registry.reg`).operations
        : [],
      existsBelow: below && ((p) => below.has(p.toUpperCase())),
    });
  });
}

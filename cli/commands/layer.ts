import { buildLayer } from '../../compositor/layer-build';
import { importOsLayer, osLayerLineage } from '../../compositor/import-os';
import { inspectLayer, type LayerInspection } from '../../compositor/inspect';
import { layerIdentity } from '../../compositor/layer-metadata';
import { UsageError, type CliCommand } from '../command';
import { captureUsage, runLayerCapture } from './layer-capture';
import { applianceLayerCommand } from './layer-appliance';
import { oneOf, parseOptions, required } from '../options';

const usage = `Usage:
  lamina layer import-os VM_DISK --name N [--version V] [--version-of OS_LAYER]... --out FILE
      Makes an OS layer disk from a VM disk (raw, VHD, VHDX or VMDK; MBR or GPT): its Windows
      partition plus the layer's metadata. --version-of names existing versions of the same OS
      layer (oldest first): the new version keeps their identity, so app and platform layers made
      on them compose with it. Without it the disk is an OS layer of its own.
  lamina layer build --type app|platform --name N [--version V] --os OS_LAYER --from DIR|ZIP
                     [--reg FILE.reg] [--deletions FILE] [--scripts DIR] [--sequence N] --out FILE
      Builds a layer from a folder or zip (streamed, never extracted). --deletions lists one
      Windows path per line to remove from lower layers; --sequence orders app layers (default:
      the build time in milliseconds).
${captureUsage}
  lamina layer inspect FILE [--json]
      Shows a layer's metadata, file count, bytes and registry operations.

Layer disks are dynamic VHDX files with one NTFS partition.

On the running appliance (its layers, versions and the tasks that make them):
${applianceLayerCommand.usage.replace(/^Usage:\n/, '')}`;

/** The sub-commands that talk to the running appliance rather than to layer files. */
const APPLIANCE = ['list', 'get', 'create', 'update', 'delete', 'versions', 'add-version', 'delete-version'];

function describe(inspection: LayerInspection): string {
  const m = inspection.metadata;
  const ops = inspection.registryOperations;
  return [
    `${m.name} ${m.version} (${m.type} layer)`,
    `  id:                ${m.id}`,
    `  layer:             ${layerIdentity(m)}`,
    ...(m.os
      ? [
          `  OS layer:          ${m.os.name} (${m.os.id})${m.os.version ? `, made on version ${m.os.version}` : ''}`,
        ]
      : []),
    `  creation sequence: ${m.creationSequence}`,
    `  created:           ${m.createdAt}`,
    `  content hash:      ${m.contentHash}`,
    `  files:             ${inspection.files} in ${inspection.directories} folders, ${inspection.bytes} bytes`,
    `  deletions:         ${inspection.deletions.length}`,
    `  registry:          ${ops.createKey} keys created, ${ops.deleteKey} keys deleted, ${ops.setValue} values set, ${ops.deleteValue} values deleted`,
  ].join('\n');
}

export const layerCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub !== undefined && APPLIANCE.includes(sub)) return applianceLayerCommand.run(args);
    switch (sub) {
      case 'import-os': {
        const options = parseOptions(rest, {
          name: 'value',
          version: 'value',
          'version-of': 'list',
          out: 'value',
        });
        if (options.positional.length !== 1) throw new UsageError('import-os takes one VM disk');
        const versions = options.lists.get('version-of') ?? [];
        const metadata = await importOsLayer({
          vmDisk: options.positional[0],
          name: required(options, 'name'),
          version: options.values.get('version') ?? '1',
          out: required(options, 'out'),
          ...(versions.length > 0 ? { lineage: await osLayerLineage(versions, '') } : {}),
        });
        console.log(
          `OS layer ${metadata.name} ${metadata.version} (${metadata.id}) written to ${required(options, 'out')}`,
        );
        return 0;
      }
      case 'build': {
        const options = parseOptions(rest, {
          type: 'value',
          name: 'value',
          version: 'value',
          os: 'value',
          from: 'value',
          reg: 'value',
          deletions: 'value',
          scripts: 'value',
          sequence: 'value',
          out: 'value',
        });
        const sequence = options.values.get('sequence');
        if (sequence !== undefined && !/^\d+$/.test(sequence))
          throw new UsageError('--sequence must be a whole number');
        const metadata = await buildLayer({
          type: oneOf(required(options, 'type'), ['app', 'platform'] as const, 'type'),
          name: required(options, 'name'),
          version: options.values.get('version') ?? '1',
          os: required(options, 'os'),
          from: required(options, 'from'),
          reg: options.values.get('reg'),
          deletions: options.values.get('deletions'),
          scripts: options.values.get('scripts'),
          creationSequence: sequence === undefined ? undefined : Number(sequence),
          out: required(options, 'out'),
        });
        console.log(
          `${metadata.type} layer ${metadata.name} ${metadata.version} (${metadata.id}) written to ${required(options, 'out')}`,
        );
        return 0;
      }
      case 'capture':
        return runLayerCapture(rest);
      case 'inspect': {
        const options = parseOptions(rest, { json: 'flag' });
        if (options.positional.length !== 1) throw new UsageError('inspect takes one layer disk');
        const inspection = await inspectLayer(options.positional[0]);
        console.log(options.flags.has('json') ? JSON.stringify(inspection, null, 2) : describe(inspection));
        return 0;
      }
      default:
        throw new UsageError(`unknown layer command ${sub ?? '(none)'}\n\n${usage}`);
    }
  },
};

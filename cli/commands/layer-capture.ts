import { captureLayer, type CaptureReport } from '../../compositor/capture';
import { LAYER_TYPES } from '../../domain/layers';
import { UsageError } from '../command';
import { oneOf, parseOptions, printProgress, required } from '../options';

/** `lamina layer capture`: capture by difference of a packaging machine's boot disk (compositor/capture). */

export const captureUsage = `  lamina layer capture --os OS_LAYER --base BASE --after AFTER --type app|platform|os --name N
                       [--version V] [--sequence N] [--previous LAYER] [--scripts DIR|ZIP]
                       --out FILE [--report capture.json]
      Captures a layer from a packaging machine's boot disk: AFTER (the disk after the install,
      shut down) against BASE (the disk it started from), both whole disks in any format. AFTER
      is a copy of BASE, or its child (a differencing VHD, VHDX or VMDK whose parent chain
      reaches BASE): then only the MFT records in the blocks it holds are compared. The layer holds the files created or changed, whiteouts for the files
      deleted and a .reg delta of the SOFTWARE, SYSTEM and DEFAULT hives, minus the machine noise
      of the exclusion list (pagefile, temp folders, prefetch, logs, device enumeration, ...);
      --report writes what was captured, what each rule left out, and the elastic-fit verdict.
      --previous names the layer's previous version when the packaging machine showed it: the
      version written holds it with the changes over it. --scripts attaches first-start scripts
      (.ps1, .cmd, .bat) that every image with the layer runs once, in priority order.
      An os layer version is AFTER's whole volume, continuing the OS layer --os.`;

function summary(report: CaptureReport, out: string): string {
  const { captured, layer, elasticFit } = report;
  const registry = captured.registry;
  return [
    `${layer.type} layer ${layer.name} ${layer.version} (${layer.id}) written to ${out}`,
    `  captured: ${captured.files} files (${captured.bytes} bytes) in ${captured.directories} new folders, ` +
      `${captured.deletions.length} deletions, registry ${registry.setValue} values set, ` +
      `${registry.deleteValue} deleted, ${registry.createKey} keys created, ${registry.deleteKey} deleted`,
    ...report.excluded.map((e) => `  excluded by ${e.rule}: ${e.count} (${e.description})`),
    `  elastic fit: ${elasticFit.verdict}${elasticFit.reasons.map((r) => `\n    ${r.rule}: ${r.detail}`).join('')}`,
  ].join('\n');
}

export async function runLayerCapture(args: string[]): Promise<number> {
  const options = parseOptions(args, {
    os: 'value',
    base: 'value',
    after: 'value',
    type: 'value',
    name: 'value',
    version: 'value',
    sequence: 'value',
    out: 'value',
    report: 'value',
    previous: 'value',
    scripts: 'value',
  });
  if (options.positional.length > 0) throw new UsageError(`capture takes no ${options.positional[0]}`);
  const sequence = options.values.get('sequence');
  if (sequence !== undefined && !/^\d+$/.test(sequence))
    throw new UsageError('--sequence must be a whole number');
  const out = required(options, 'out');
  const report = await captureLayer({
    osLayer: required(options, 'os'),
    base: required(options, 'base'),
    after: required(options, 'after'),
    type: oneOf(required(options, 'type'), LAYER_TYPES, 'type'),
    name: required(options, 'name'),
    version: options.values.get('version'),
    creationSequence: sequence === undefined ? undefined : Number(sequence),
    previous: options.values.get('previous'),
    scripts: options.values.get('scripts'),
    out,
    reportPath: options.values.get('report'),
    onProgress: printProgress,
  });
  console.log(summary(report, out));
  return 0;
}

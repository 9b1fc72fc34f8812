import { compose } from '../../compositor/compose';
import { OUTPUT_FORMATS } from '../../compositor/disk-image';
import { parseLayerInput } from '../../compositor/iscsi-lun';
import { writeReport } from '../../compositor/report-file';
import { DISK_FIRMWARES } from '../../domain/firmware';
import type { CliCommand } from '../command';
import { oneOf, parseOptions, printProgress, required, sizeGib } from '../options';

const usage = `Usage: lamina compose --os OS [--platform P] [--app A]... --size-gib N --firmware bios|uefi
                      --format raw|vhd|vhd-fixed|vhdx|vmdk|vmdk-stream --out FILE [--report FILE.json]

Composes layer disks into one Windows disk. Priority comes from the layers' metadata (app layers
by creation sequence, the platform layer last), not from the order of the options. BIOS gives
an MBR disk with one active NTFS partition; UEFI a GPT disk with ESP, MSR and NTFS partition.
Progress is printed as JSON lines ({"phase","done","total"}); the report lists every file and
registry value more than one layer provides, and who won.
A layer may be an iSCSI LUN, iscsi://HOST:PORT/IQN/LUN, read with libiscsi (no kernel initiator); the
initiator name and CHAP credentials come from LAMINA_ISCSI_INITIATOR, LAMINA_ISCSI_CHAP_USER and
LAMINA_ISCSI_CHAP_SECRET, never from the command line.`;

export const composeCommand: CliCommand = {
  usage,
  async run(args) {
    const options = parseOptions(args, {
      os: 'value',
      platform: 'value',
      app: 'list',
      'size-gib': 'value',
      firmware: 'value',
      format: 'value',
      out: 'value',
      report: 'value',
    });
    const out = required(options, 'out');
    const reportFile = options.values.get('report');
    // Ctrl-C or a stop from the activity: the running core process is killed, scratch removed.
    const cancel = new AbortController();
    const stop = () => cancel.abort();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    const report = await compose({
      os: parseLayerInput(required(options, 'os')),
      platform: options.values.has('platform') ? parseLayerInput(options.values.get('platform')!) : undefined,
      apps: (options.lists.get('app') ?? []).map((app) => parseLayerInput(app)),
      size: sizeGib(required(options, 'size-gib'), 'size-gib'),
      firmware: oneOf(required(options, 'firmware'), DISK_FIRMWARES, 'firmware'),
      format: oneOf(required(options, 'format'), OUTPUT_FORMATS, 'format'),
      out,
      report: reportFile,
      onProgress: printProgress,
      signal: cancel.signal,
    }).finally(() => process.off('SIGINT', stop).off('SIGTERM', stop));
    if (reportFile) await writeReport(reportFile, report);
    return 0;
  },
};

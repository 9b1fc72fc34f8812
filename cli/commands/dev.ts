import { OUTPUT_FORMATS } from '../../compositor/disk-image';
import { DISK_FIRMWARES } from '../../domain/firmware';
import { makeGoldImage } from '../../compositor/gold-image';
import { UsageError, type CliCommand } from '../command';
import { oneOf, parseOptions, printProgress, required, sizeGib } from '../options';

const usage = `Usage: lamina dev gold-image --out FILE --firmware bios|uefi --size-gib N [--format raw|vhd|vhd-fixed|vhdx|vmdk|vmdk-stream]

Makes a synthetic Windows gold image (a VM disk) for demos and tests: MBR or GPT layout, an NTFS
Windows partition with registry hives, boot files, Program Files, a default user, files with
ACLs and alternate data streams. Progress is printed as JSON lines.`;

export const devCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub !== 'gold-image') throw new UsageError(`unknown dev command ${sub ?? '(none)'}\n\n${usage}`);
    const options = parseOptions(rest, {
      out: 'value',
      firmware: 'value',
      'size-gib': 'value',
      format: 'value',
    });
    await makeGoldImage({
      out: required(options, 'out'),
      firmware: oneOf(required(options, 'firmware'), DISK_FIRMWARES, 'firmware'),
      size: sizeGib(required(options, 'size-gib'), 'size-gib'),
      format: oneOf(options.values.get('format') ?? 'raw', OUTPUT_FORMATS, 'format'),
      onProgress: printProgress,
    });
    return 0;
  },
};

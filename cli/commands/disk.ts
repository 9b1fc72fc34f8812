import { realpath } from 'node:fs/promises';
import { CliCommand, UsageError } from '../command';
import {
  convertDisk,
  CopyProgress,
  DISK_FORMATS,
  DiskFormat,
  openDisk,
  readPartitionTable,
} from '../../disk';

const usage = `Usage:
  lamina disk info FILE [--json]
      Format, virtual size, allocated bytes and partitions of a disk file.
  lamina disk convert IN OUT --to ${DISK_FORMATS.join('|')}
      Copies IN (format detected from its content) into a new OUT. Zero blocks stay unallocated.
      OUT appears only once complete; on failure or Ctrl-C nothing is left at OUT.`;

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

async function info(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length !== 1) throw new UsageError('info takes exactly one FILE');
  const disk = await openDisk(files[0]);
  try {
    const table = await readPartitionTable(disk);
    const report = {
      file: disk.path,
      format: disk.format,
      virtualSize: disk.virtualSize,
      sectorSize: disk.sectorSize,
      allocatedBytes: disk.allocatedBytes,
      partitionTable: table?.scheme ?? null,
      partitions: table?.partitions ?? [],
    };
    if (json) {
      console.log(JSON.stringify(report, null, 2));
      return 0;
    }
    const line = (label: string, value: string) => console.log(`${`${label}:`.padEnd(14)}${value}`);
    line('file', report.file);
    line('format', report.format);
    line('virtual size', `${formatBytes(report.virtualSize)} (${report.virtualSize} bytes)`);
    line('allocated', `${formatBytes(report.allocatedBytes)} (${report.allocatedBytes} bytes)`);
    line('partitions', report.partitionTable ?? 'none');
    for (const p of report.partitions) {
      const flags = p.bootable ? ' active' : '';
      console.log(
        `  ${p.number}  ${p.typeName.padEnd(22)} start ${formatBytes(p.start).padStart(10)}  size ${formatBytes(p.size).padStart(10)}${p.name ? `  "${p.name}"` : ''}${flags}`,
      );
    }
    return 0;
  } finally {
    await disk.close();
  }
}

/** A one-line bar redrawn in place on a terminal; nothing when stderr is a pipe or file. */
function progressBar(): ((p: CopyProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = -1;
  return ({ done, total }) => {
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
    if (percent === last) return;
    last = percent;
    const width = 30;
    const filled = Math.round((percent / 100) * width);
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${String(percent).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(total)}`,
    );
    if (done >= total) process.stderr.write('\n');
  };
}

async function convert(args: string[]): Promise<number> {
  // A conversion keeps four reads and two writes in flight (disk/convert.ts), each on a thread of
  // libuv's pool, besides the write-behind calls that wait for writeback: the default four threads
  // would queue them. Read once, when the pool starts at the first file operation, which is below.
  process.env.UV_THREADPOOL_SIZE ??= '8';
  const toAt = args.indexOf('--to');
  const to = toAt >= 0 ? args[toAt + 1] : undefined;
  const files = args.filter((_, i) => i !== toAt && i !== toAt + 1);
  if (files.length !== 2) throw new UsageError('convert takes IN and OUT');
  if (!to || !(DISK_FORMATS as readonly string[]).includes(to))
    throw new UsageError(`--to must be one of ${DISK_FORMATS.join(', ')}`);
  const [input, output] = files;
  if ((await realpath(input)) === (await realpath(output).catch(() => undefined)))
    throw new UsageError('IN and OUT are the same file');
  const source = await openDisk(input);
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  try {
    await convertDisk(source, to as DiskFormat, output, {
      onProgress: progressBar(),
      signal: controller.signal,
    });
  } catch (err) {
    if (controller.signal.aborted) {
      console.error('lamina disk convert: interrupted; no output written');
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', interrupt);
    await source.close();
  }
  return 0;
}

export const diskCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'info') return info(rest);
    if (sub === 'convert') return convert(rest);
    throw new UsageError(`unknown sub-command '${sub ?? ''}'; expected info or convert\n\n${usage}`);
  },
};

import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { applyToVolume } from '../../compositor/volume';
import type { VolumeOperation } from '../../compositor/volume-operations';
import { cutPartition, partitionTable, run, toRaw } from '../compositor/tools';

/**
 * A simulated installer on a packaging machine's boot disk: the disk (any format) is copied to a raw
 * disk, its Windows partition cut out with dd, files changed there by the NTFS core and hives by
 * hivex's own `hivexregedit --merge`, and the partition put back with dd. The raw disk is the
 * machine's disk after the install ("AFTER"), the partition file its volume, for checks with ntfscat.
 */

export interface Install {
  files?: VolumeOperation[];
  /** regedit text per hive file name (SOFTWARE, SYSTEM, DEFAULT), keys written with the hive's own prefix. */
  registry?: Partial<Record<'SOFTWARE' | 'SYSTEM' | 'DEFAULT', string>>;
}

const PREFIX = {
  SOFTWARE: 'HKEY_LOCAL_MACHINE\\SOFTWARE',
  SYSTEM: 'HKEY_LOCAL_MACHINE\\SYSTEM',
  DEFAULT: 'HKEY_USERS\\.DEFAULT',
};

/** The index of the Windows partition: GPT basic data or MBR NTFS. */
function windowsIndex(raw: string): number {
  return partitionTable(raw).partitions.findIndex((p) =>
    /^(EBD0A0A2-B9E5-4433-87C0-68B6B72699C7|7)$/i.test(p.type),
  );
}

export async function install(
  disk: string,
  work: string,
  name: string,
  changes: Install,
): Promise<{ disk: string; volume: string }> {
  const raw = toRaw(disk, path.join(work, `${name}.raw`));
  const index = windowsIndex(raw);
  const volume = cutPartition(raw, index, path.join(work, `${name}.ntfs`));
  if (changes.files) await applyToVolume(volume, changes.files);
  for (const [hive, text] of Object.entries(changes.registry ?? {})) {
    const file = path.join(work, `${name}-${hive}`);
    writeFileSync(file, execFileSync('ntfscat', [volume, `/Windows/System32/config/${hive}`]));
    const reg = path.join(work, `${name}-${hive}.reg`);
    writeFileSync(reg, `Windows Registry Editor Version 5.00\r\n\r\n${text.replace(/\n/g, '\r\n')}`);
    run('hivexregedit', ['--merge', '--prefix', PREFIX[hive as keyof typeof PREFIX], file, reg]);
    await applyToVolume(volume, [
      { op: 'data', path: `\\Windows\\System32\\config\\${hive}`, content: readFileSync(file) },
    ]);
  }
  const start = partitionTable(raw).partitions[index].start;
  run('dd', [`if=${volume}`, `of=${raw}`, 'bs=512', `seek=${start}`, 'conv=notrunc', 'status=none']);
  return { disk: raw, volume };
}

/** Bytes compared at a time, a VMDK grain: a child holds whole grains. */
const GRAIN = 64 * 1024;

/**
 * A qemu-img VMDK child of `parent` (`create -b`) that holds exactly the 64 KiB grains in which
 * the raw disk `afterRaw` differs from `parentRaw` (the parent's bytes), written with qemu-io: the
 * packaging machine's disk as a hypervisor leaves a child (qemu-img convert -B would store every
 * grain with data, not only the changed ones).
 */
export function childWithChanges(parent: string, parentRaw: string, afterRaw: string, child: string): void {
  run('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', parent, '-F', 'vmdk', child]);
  const size = statSync(afterRaw).size;
  const [before, now] = [openSync(parentRaw, 'r'), openSync(afterRaw, 'r')];
  const runs: { offset: number; length: number }[] = [];
  try {
    const a = Buffer.alloc(GRAIN);
    const b = Buffer.alloc(GRAIN);
    for (let at = 0; at < size; at += GRAIN) {
      a.fill(0);
      b.fill(0);
      readSync(before, a, 0, GRAIN, at);
      readSync(now, b, 0, GRAIN, at);
      if (a.equals(b)) continue;
      const last = runs[runs.length - 1];
      if (last && last.offset + last.length === at) last.length += GRAIN;
      else runs.push({ offset: at, length: GRAIN });
    }
    const commands: string[] = [];
    runs.forEach((r, i) => {
      const data = Buffer.alloc(r.length);
      readSync(now, data, 0, r.length, r.offset);
      const file = `${child}.run${i}`;
      writeFileSync(file, data);
      commands.push('-c', `write -q -s ${file} ${r.offset} ${r.length}`);
    });
    if (commands.length > 0) run('qemu-io', ['-f', 'vmdk', ...commands, child]);
    runs.forEach((_, i) => rmSync(`${child}.run${i}`));
  } finally {
    closeSync(before);
    closeSync(now);
  }
}

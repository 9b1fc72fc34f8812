import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { convertDisk, openDisk } from '../../disk';
import { installIntoBootDisk } from '../boot-disk-install';
import { openLayerSource } from '../layer-sources';
import { withWorkDir } from '../work-dir';
import { readImageFacts } from './image-facts';
import type { PrepareOptions, PrepareStepRecord } from './prepare-options';
import { PrepareInputError, planPrepareSteps, type PlannedStep } from './prepare-steps';

export interface PrepareReport {
  /** Each step with what it changed, in the order applied. */
  steps: PrepareStepRecord[];
}

/**
 * Image Portability's prepare, offline: reads what the image holds, plans the steps the options and the
 * target platform need (prepare-steps.ts), and writes them into a copy of the image through the
 * compositor's NTFS and registry engine (installIntoBootDisk) — the source is never modified. The
 * prepared disk is a VHDX at `output`, which appears only when complete.
 */
export async function prepareImage(
  source: string,
  output: string,
  options: PrepareOptions,
  onProgress?: (phase: string) => void,
): Promise<PrepareReport> {
  onProgress?.('inspect');
  const facts = await readImageFacts(source);
  const blob = options.domainJoinBlob ? await readDomainJoinBlob(options.domainJoinBlob) : undefined;
  const steps = planPrepareSteps(facts, options, blob);
  const partial = path.join(path.dirname(output), `.${path.basename(output)}.preparing`);
  try {
    onProgress?.('copy');
    const disk = await openDisk(source);
    try {
      await convertDisk(disk, 'vhdx', partial);
    } finally {
      await disk.close();
    }
    onProgress?.('apply');
    await withWorkDir(output, async (work) => {
      const staged = await stageSteps(work, steps);
      await installIntoBootDisk(partial, staged);
    });
    await fs.rename(partial, output);
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw err;
  }
  return { steps: steps.map(({ step, changes }) => ({ step, changes })) };
}

/** Writes the steps as installIntoBootDisk takes them: a tree of files, a .reg, a deletions list. */
async function stageSteps(
  work: string,
  steps: PlannedStep[],
): Promise<{ from?: string; reg?: string; deletions?: string }> {
  const tree = path.join(work, 'files');
  let hasFiles = false;
  const place = async (windowsPath: string) => {
    const local = path.join(tree, ...windowsPath.split('\\').filter(Boolean));
    await fs.mkdir(path.dirname(local), { recursive: true });
    hasFiles = true;
    return local;
  };
  for (const s of steps) {
    for (const file of s.files) await fs.writeFile(await place(file.path), file.content);
    for (const { at, from } of s.trees) {
      const source = await openLayerSource(from);
      try {
        for (const entry of source.entries) {
          const local = await place(`${at}\\${entry.windowsPath}`);
          if (entry.dir) {
            await fs.mkdir(local, { recursive: true });
            continue;
          }
          const content = await entry.open();
          if (Buffer.isBuffer(content)) await fs.writeFile(local, content);
          else await pipeline(content.stream, createWriteStream(local));
        }
      } finally {
        await source.close();
      }
    }
  }
  const regLines = steps.flatMap((s) => s.reg);
  const deletions = steps.flatMap((s) => s.deletions);
  const reg = path.join(work, 'prepare.reg');
  const list = path.join(work, 'deletions.txt');
  if (regLines.length > 0)
    await fs.writeFile(reg, ['Windows Registry Editor Version 5.00', '', ...regLines].join('\r\n'));
  if (deletions.length > 0) await fs.writeFile(list, deletions.join('\n') + '\n');
  return {
    ...(hasFiles ? { from: tree } : {}),
    ...(regLines.length > 0 ? { reg } : {}),
    ...(deletions.length > 0 ? { deletions: list } : {}),
  };
}

/**
 * The blob `djoin /provision /savefile` writes: base64 text, UTF-16LE with a byte-order mark as djoin
 * saves it, or plain ASCII. Anything else is refused, naming the file.
 */
async function readDomainJoinBlob(file: string): Promise<string> {
  const bytes = await fs.readFile(file).catch(() => {
    throw new PrepareInputError(`the offline domain-join blob ${file} cannot be read`);
  });
  const text = (
    bytes[0] === 0xff && bytes[1] === 0xfe ? bytes.subarray(2).toString('utf16le') : bytes.toString('latin1')
  )
    .replace(/\0/g, '')
    .replace(/\s+/g, '');
  if (text.length < 16 || !/^[A-Za-z0-9+/]+=*$/.test(text))
    throw new PrepareInputError(
      `${path.basename(file)} is not an offline domain-join blob (base64 text as djoin /provision saves it)`,
    );
  return text;
}

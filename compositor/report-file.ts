import fs from 'node:fs/promises';
import path from 'node:path';
import type { ComposeReport } from './compose';

/**
 * Writes a compose (or capture) report whole or not at all: a reader never sees half of it, and its presence marks a
 * finished compose. The temporary file is named as a leftover of `file` (activities/leftovers.ts), so
 * removing the report's leftovers removes it too. Used by `lamina compose --report` and the compose activity.
 */
export async function writeReport(file: string, report: object): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await fs.writeFile(temp, JSON.stringify(report, null, 2) + '\n');
  await fs.rename(temp, file);
}

export async function readReport(file: string): Promise<ComposeReport> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as ComposeReport;
}

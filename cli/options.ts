import { UsageError } from './command';

/** How a command's flags are read: `value` takes the next word, `list` may repeat, `flag` takes none. */
export type OptionKinds = Record<string, 'value' | 'list' | 'flag'>;

export interface ParsedOptions {
  positional: string[];
  values: Map<string, string>;
  lists: Map<string, string[]>;
  flags: Set<string>;
}

export function parseOptions(args: string[], kinds: OptionKinds): ParsedOptions {
  const parsed: ParsedOptions = { positional: [], values: new Map(), lists: new Map(), flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      parsed.positional.push(arg);
      continue;
    }
    const name = arg.slice(2);
    const kind = kinds[name];
    if (!kind) throw new UsageError(`unknown option ${arg}`);
    if (kind === 'flag') {
      parsed.flags.add(name);
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    if (kind === 'list') parsed.lists.set(name, [...(parsed.lists.get(name) ?? []), value]);
    else if (parsed.values.has(name)) throw new UsageError(`${arg} given twice`);
    else parsed.values.set(name, value);
  }
  return parsed;
}

export function required(options: ParsedOptions, name: string): string {
  const value = options.values.get(name);
  if (value === undefined) throw new UsageError(`--${name} is required`);
  return value;
}

export function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

/** A positive whole number of GiB, as bytes. */
export function sizeGib(value: string, name: string): number {
  const gib = Number(value);
  if (!Number.isFinite(gib) || gib <= 0 || Math.round(gib * 1024) !== gib * 1024)
    throw new UsageError(`--${name} must be a positive number of GiB (MiB granularity)`);
  return Math.round(gib * 1024) * 2 ** 20;
}

let lastProgress = { phase: '', at: 0 };

/**
 * Prints progress as JSON lines on stdout, for an activity (or a person) to follow: every change
 * of phase and every phase's end, otherwise at most five lines a second.
 */
export function printProgress(progress: { phase: string; done: number; total: number }): void {
  const now = performance.now();
  const phaseChanged = progress.phase !== lastProgress.phase;
  if (!phaseChanged && progress.done < progress.total && now - lastProgress.at < 200) return;
  lastProgress = { phase: progress.phase, at: now };
  process.stdout.write(JSON.stringify(progress) + '\n');
}

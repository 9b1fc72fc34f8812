/** What a `lamina` sub-command module exports. Each lives in its own module under cli/commands/. */
export interface CliCommand {
  /** Full help text for `lamina <name> --help`. */
  usage: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/**
 * A sub-command as `lamina --help` lists it. Its module is loaded only when it runs: the
 * commands between them pull in Temporal, express and pg, which would otherwise make every
 * invocation (a `lamina disk convert`, say) pay their start-up.
 */
export interface CommandEntry {
  /** First word after `lamina`, e.g. `disk` or `up`. */
  name: string;
  /** One line for `lamina --help`. */
  summary: string;
  load(): Promise<CliCommand>;
}

/** An error whose message is meant for the user as is (bad flag, missing file); the CLI prints it without a stack. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

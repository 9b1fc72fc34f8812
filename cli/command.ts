/** One `lamina` sub-command. Each lives in its own module under cli/commands/ and is listed in cli/commands/index.ts. */
export interface CliCommand {
  /** First word after `lamina`, e.g. `disk` or `up`. */
  name: string;
  /** One line for `lamina --help`. */
  summary: string;
  /** Full help text for `lamina <name> --help`. */
  usage: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** An error whose message is meant for the user as is (bad flag, missing file); the CLI prints it without a stack. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

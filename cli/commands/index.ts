import type { CliCommand } from '../command';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CliCommand[] = [];

import type { CliCommand } from '../command';
import { devCommand } from './dev';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CliCommand[] = [devCommand];

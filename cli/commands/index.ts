import type { CliCommand } from '../command';
import { devCommand } from './dev';
import { diskCommand } from './disk';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CliCommand[] = [diskCommand, devCommand];

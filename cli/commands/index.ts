import type { CliCommand } from '../command';
import { diskCommand } from './disk';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CliCommand[] = [diskCommand];

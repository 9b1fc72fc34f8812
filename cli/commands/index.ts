import type { CliCommand } from '../command';
import { composeCommand } from './compose';
import { devCommand } from './dev';
import { diskCommand } from './disk';
import { layerCommand } from './layer';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CliCommand[] = [diskCommand, layerCommand, composeCommand, devCommand];

import type { CliCommand } from '../command';
import { adminCommand } from './admin';
import { composeCommand } from './compose';
import { devCommand } from './dev';
import { diskCommand } from './disk';
import { layerCommand } from './layer';
import { apiCommand, workerCommand } from './roles';
import { upCommand } from './up';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CliCommand[] = [
  upCommand,
  apiCommand,
  workerCommand,
  adminCommand,
  diskCommand,
  layerCommand,
  composeCommand,
  devCommand,
];

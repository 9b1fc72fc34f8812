import type { CliCommand } from '../command';
import { adminCommand } from './admin';
import { diskCommand } from './disk';
import { apiCommand, workerCommand } from './roles';
import { upCommand } from './up';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CliCommand[] = [upCommand, apiCommand, workerCommand, adminCommand, diskCommand];

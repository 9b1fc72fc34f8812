import { defineSignal } from '@temporalio/workflow';
import type { ScriptsReport } from '../domain/vm-contract';

/** Signal names shared by the workflows and the power watcher that sends them. */
export const SIGNALS = {
  vmPoweredOff: 'vmPoweredOff',
  scriptsReported: 'scriptsReported',
} as const;

export const vmPoweredOff = defineSignal<[vmId: string]>(SIGNALS.vmPoweredOff);
export const scriptsReported = defineSignal<[vmId: string, report: ScriptsReport]>(SIGNALS.scriptsReported);

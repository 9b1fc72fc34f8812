import type { LocalVmStandInInput, LocalVmStandInResult } from '../activities/local-vm-stand-ins';
import { patched } from '@temporalio/workflow';
import { appliance } from './activity-proxies';

/** Installs started before uploads were removed once used leave theirs to expire. */
const REMOVE_USED_UPLOADS = 'remove-used-uploads';

/**
 * localVmStandIn: on the local connector, does what an admin or a guest agent does inside a VM
 * (install software into a packaging machine, shut it down, report the first-start scripts), as a
 * task the API starts; the waiting packaging or publish task then goes on.
 */
export async function localVmStandIn(input: LocalVmStandInInput): Promise<LocalVmStandInResult> {
  const result = await appliance.runLocalVmStandIn(input);
  // Installed: what the uploads held is in the package disk now. A failed install keeps them for a retry.
  if (input.action === 'install' && patched(REMOVE_USED_UPLOADS)) {
    await appliance.removeUploads([input.from, input.reg, input.deletions].filter((f) => f !== undefined));
  }
  return result;
}

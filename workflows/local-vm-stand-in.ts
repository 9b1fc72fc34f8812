import type { LocalVmStandInInput, LocalVmStandInResult } from '../activities/local-vm-stand-ins';
import { appliance } from './activity-proxies';

/**
 * localVmStandIn: on the local connector, does what an admin or a guest agent does inside a VM
 * (install software into a packaging machine, shut it down, report the first-start scripts), as a
 * task the API starts; the waiting packaging or publish task then goes on.
 */
export async function localVmStandIn(input: LocalVmStandInInput): Promise<LocalVmStandInResult> {
  return appliance.runLocalVmStandIn(input);
}

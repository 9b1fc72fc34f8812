/**
 * Which Image Portability phases a workflow needs, by source and target provisioning
 * (reference/image-portability.txt): an MCS source is exported from its hypervisor, while a PVS source
 * is already a vDisk on a share; every image is prepared; an MCS target gets the disk uploaded to its
 * platform, a PVS target gets it published into the store. Lamina also publishes for MCS — the managed
 * disk and image on Azure, or the master image VM on vSphere and the local connector — so a catalog
 * can be made from it at once (the reference leaves that step to the admin).
 */
export type Provisioning = 'MCS' | 'PVS';
export type IpsPhase = 'export' | 'prepare' | 'upload' | 'publish';

export function ipsPhases(source: Provisioning, target: Provisioning): IpsPhase[] {
  const phases: IpsPhase[] = source === 'MCS' ? ['export', 'prepare'] : ['prepare'];
  return target === 'MCS' ? [...phases, 'upload', 'publish'] : [...phases, 'publish'];
}

/**
 * Image Portability's prepare options, named as the Citrix.AppLayering cmdlet names them
 * (reference/image-portability.txt), and the platforms an image is prepared for.
 */
export const PROVISIONING_TYPES = ['MCS', 'PVS'] as const;
export type ProvisioningType = (typeof PROVISIONING_TYPES)[number];

/** Where the prepared image will run: the target connector's type. */
export const TARGET_PLATFORMS = ['azure', 'vsphere', 'local'] as const;
export type TargetPlatform = (typeof TARGET_PLATFORMS)[number];

export interface PrepareOptions {
  provisioningType: ProvisioningType;
  platform: TargetPlatform;
  /** Leave the source's domain (offline: the machine forgets its domain membership). */
  DomainUnjoin?: boolean;
  /** Install the User Personalization Layer at first start, from `uplInstaller`. */
  InstallUpl?: boolean;
  /** Check the Windows volume at the first start (autochk before Windows mounts it). */
  Chkdsk?: boolean;
  /** Defragment the Windows volume at the first start. */
  Defrag?: boolean;
  EnableRdp?: boolean;
  /** Make the Citrix VDA register anew: its registration state from the source platform is removed. */
  XdReconfigure?: boolean;
  /** A local zip or folder of the target's guest agent, placed under \WindowsAzure (Azure). */
  guestAgent?: string;
  /**
   * A local file holding an offline domain-join blob (`djoin /provision /savefile`): the answer file
   * carries it, so Windows joins at specialize as `djoin /requestODJ` would.
   */
  domainJoinBlob?: string;
  /** A local zip or folder with the User Personalization Layer installer (.msi) InstallUpl runs. */
  uplInstaller?: string;
}

/** What one prepare step did to the image: every registry change and file, in words an admin checks. */
export interface PrepareStepRecord {
  step: string;
  changes: string[];
}

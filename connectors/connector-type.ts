import { z } from 'zod';

export const DISK_FORMATS = ['VHD', 'VHDX', 'VMDK'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];
/** BIOS = Generation 1 (MBR), UEFI = Generation 2 (GPT). */
export const FIRMWARES = ['BIOS', 'UEFI'] as const;
export type Firmware = (typeof FIRMWARES)[number];

/**
 * What the API knows about a connector type: its settings (validated per type), which of its fields are
 * secrets (sealed at rest, never returned), the packaging cache default from the reference, and what
 * images it can take. `implemented` says whether this build has the connector code behind it.
 */
export interface ConnectorTypeDefinition {
  label: string;
  settings: z.ZodObject;
  /** Write-only fields; each is a non-empty string when given. */
  secretFields: readonly string[];
  /** Recommended packaging cache size in GB; undefined: this type has no packaging cache (Azure). */
  defaultPackagingCacheGb?: number;
  /** Disk format → the firmware it can boot with on this platform. */
  imageFormats: Partial<Record<DiskFormat, readonly Firmware[]>>;
  maxDiskGb: number;
  implemented: boolean;
  /**
   * Checks the settings that name places on the appliance against the appliance itself (a share's mount
   * point), apart from Lamina's own folders; answers each wrong setting.
   */
  checkOnHost?(settings: Record<string, unknown>, ownDirs: readonly string[]): Promise<SettingProblem[]>;
}

export interface SettingProblem {
  setting: string;
  message: string;
}

/** Host name, IP address or URL authority the connector talks to. */
export const hostName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address');
export const requiredText = z.string().trim().min(1, 'is required').max(1024);
export const optionalText = requiredText.optional();
/** A Windows UNC path, e.g. \\fileserver\share\folder. */
export const uncPath = z
  .string()
  .regex(
    /^\\\\[^\\/:*?"<>|]+\\[^\\/:*?"<>|]+(\\[^\\/:*?"<>|]+)*\\?$/,
    'must be a UNC path like \\\\server\\share',
  );
export const port = z.number().int().min(1).max(65535);

export const ANY_FIRMWARE: readonly Firmware[] = FIRMWARES;
export const ANY_FORMAT: ConnectorTypeDefinition['imageFormats'] = {
  VHD: ANY_FIRMWARE,
  VHDX: ANY_FIRMWARE,
  VMDK: ANY_FIRMWARE,
};

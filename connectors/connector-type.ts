import { z } from 'zod';
import type { ConnectorRecord } from '../db/connectors';
import { FIRMWARES, type Firmware } from '../domain/firmware';
import { IMAGE_FORMATS, type ImageFormat } from '../domain/image-formats';
import type { Connector } from './connector';

/**
 * The capability objects a connector offers (ARCHITECTURE.md §7): `vms` (VmHost), `images` (ImageStore),
 * `upload` (disks uploaded to a cloud's storage, Image Portability's target: connectors/azure).
 */
export const CONNECTOR_CAPABILITIES = ['vms', 'images', 'upload'] as const;
export type ConnectorCapability = (typeof CONNECTOR_CAPABILITIES)[number];

/**
 * Everything Lamina knows about one connector type, exported by its folder (connectors/<type>/type.ts)
 * and listed once in connectors/registry.ts, like qemu's BlockDriver: its settings (validated per
 * type), which fields are secrets (sealed at rest, never returned), the packaging cache default from
 * the reference, the images it takes, its capabilities, and `create`, the code that talks to the
 * platform. A type without `create` is declared (its configurations are stored and validated) but not
 * implemented in this build: templates and connector tests refuse it.
 */
export interface ConnectorDescriptor<Type extends string = string> {
  /** The `type` stored with each configuration of it. */
  type: Type;
  label: string;
  settings: z.ZodObject;
  /** Write-only fields; each is a non-empty string when given. */
  secretFields: readonly string[];
  /** Recommended packaging cache size in GB; undefined: this type has no packaging cache (Azure). */
  defaultPackagingCacheGb?: number;
  /** Image format → the firmware it can boot with on this platform. */
  imageFormats: Partial<Record<ImageFormat, readonly Firmware[]>>;
  maxDiskGb: number;
  /** What `create` gives: `vms` for a hypervisor, `images` for a file-share-like target. */
  capabilities: readonly ConnectorCapability[];
  /**
   * Builds the connector for a stored configuration, re-validating its settings so a bad row fails
   * clearly. `secrets` are the opened secret fields, read by the calling activity from Postgres (never
   * from history).
   */
  create?(record: ConnectorRecord, secrets: Record<string, string>): Connector;
  /**
   * Checks the settings that name places on the appliance against the appliance itself (a share's mount
   * point), apart from Lamina's own folders; answers each wrong setting.
   */
  checkOnHost?(settings: Record<string, unknown>, ownDirs: readonly string[]): Promise<SettingProblem[]>;
}

/** Keeps a descriptor's `type` as its literal, so the registry knows every type name. */
export function connectorType<const Type extends string>(
  descriptor: ConnectorDescriptor<Type>,
): ConnectorDescriptor<Type> {
  return descriptor;
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
export const ANY_FORMAT: ConnectorDescriptor['imageFormats'] = Object.fromEntries(
  IMAGE_FORMATS.map((format) => [format, ANY_FIRMWARE]),
);

import { z } from 'zod';
import { normalizeThumbprint } from './tls-trust';

/**
 * A vSphere connector configuration: the fields App Layering's vSphere connector asks for, plus how to
 * trust the vCenter's certificate. `password` is the one secret (see vsphereSecretFields): the API
 * stores it encrypted and never returns it; activities pass it in from Postgres, never through history.
 */
export const vsphereConnectorSettings = z.object({
  /** vCenter server: host name, or https://host/sdk. */
  server: z.string().trim().min(1, 'vCenter server is required'),
  username: z.string().min(1, 'user is required'),
  password: z.string().min(1, 'password is required'),
  /** Accept a certificate no trusted CA signed (self-signed vCenter); prefer certificateThumbprint. */
  allowUntrustedCertificate: z.boolean().default(false),
  /** SHA-1 (as vSphere shows it) or SHA-256 thumbprint of the vCenter certificate to pin. */
  certificateThumbprint: z
    .string()
    .trim()
    .optional()
    .refine((v) => v === undefined || normalizeThumbprint(v) !== undefined, {
      message: 'must be a SHA-1 (20 bytes) or SHA-256 (32 bytes) hex thumbprint',
    }),
  datacenter: z.string().min(1, 'datacenter is required'),
  /** The host or cluster VMs run on (App Layering's "Host" field accepts either). */
  hostOrCluster: z.string().min(1, 'host or cluster is required'),
  datastore: z.string().min(1, 'datastore is required'),
  network: z.string().min(1, 'network is required'),
  /** Folder path below the datacenter's VM folder, e.g. "Lamina/Packaging"; empty = the VM folder itself. */
  vmFolder: z.string().default(''),
  /** VM whose hardware (CPU, memory, firmware, controller, NIC type) new VMs copy; optional. */
  templateVm: z.string().optional(),
  offloadCompositing: z.boolean().default(false),
  /** 0 turns the packaging cache off; App Layering recommends 250 GB for vSphere. */
  packagingCacheSizeGb: z.number().int().min(0).default(250),
  /** Script run on the appliance after an image is published. */
  postPublishScript: z.string().optional(),
});
export type VsphereConnectorSettings = z.infer<typeof vsphereConnectorSettings>;

/** Settings the API must encrypt at rest and leave out of every response. */
export const vsphereSecretFields = ['password'] as const;

import { z } from 'zod';
import { hostName, optionalText, requiredText } from '../connector-type';
import { normalizeThumbprint } from './tls-trust';

/**
 * A vSphere connector configuration: the fields App Layering's vSphere connector asks for, plus how to
 * trust the vCenter's certificate. Offload Compositing, the packaging cache size and the post-publish
 * script are options every connector type has, stored beside the settings (api/connectors).
 */
export const vsphereConnectorSettings = z.object({
  vcenter: hostName.describe('vCenter Server host name (host:port for a port other than 443)'),
  user: requiredText.describe('vCenter user, e.g. administrator@vsphere.local'),
  datacenter: requiredText,
  host: requiredText.describe('ESXi host or cluster the machines run on'),
  datastore: requiredText,
  network: requiredText,
  vmFolder: optionalText.describe(
    "VM folder for packaging machines and published images, a path below the datacenter's VM folder",
  ),
  templateVm: optionalText.describe('Virtual machine whose hardware settings new machines copy'),
  ceTemplateVm: optionalText.describe(
    'Virtual machine each Compositing Engine is cloned from (Offload Compositing): a Linux VM that runs ' +
      '`lamina ce` at boot with the environment in guestinfo.lamina.ce.environment (base64 JSON)',
  ),
  allowUntrustedCertificate: z
    .boolean()
    .default(false)
    .describe(
      'Accept a certificate no trusted CA signed (self-signed vCenter); prefer certificateThumbprint',
    ),
  certificateThumbprint: optionalText
    .refine((v) => v === undefined || normalizeThumbprint(v) !== undefined, {
      message: 'must be a SHA-1 (20 bytes) or SHA-256 (32 bytes) hex thumbprint',
    })
    .describe('SHA-1 (as vSphere shows it) or SHA-256 thumbprint of the vCenter certificate to trust'),
});
export type VsphereConnectorSettings = z.infer<typeof vsphereConnectorSettings>;

/** Write-only fields: sealed at rest by the API, opened only by the activity that uses them. */
export const vsphereConnectorSecrets = z.object({ password: z.string().min(1, 'is required') });
export type VsphereConnectorSecrets = z.infer<typeof vsphereConnectorSecrets>;

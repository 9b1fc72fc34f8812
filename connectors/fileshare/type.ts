import { z } from 'zod';
import { ANY_FORMAT, optionalText, uncPath, type ConnectorTypeDefinition } from '../connector-type';

/** Windows File Share (or a PVS store path): the published disk is written to the share. */
export const fileshareConnectorType: ConnectorTypeDefinition = {
  label: 'Windows File Share',
  settings: z.object({
    path: uncPath.describe('Share and folder the images are written to'),
    user: optionalText.describe('Account with write access; the appliance account when unset'),
  }),
  secretFields: ['password'],
  defaultPackagingCacheGb: 0,
  imageFormats: ANY_FORMAT,
  maxDiskGb: 65536,
  implemented: false,
};

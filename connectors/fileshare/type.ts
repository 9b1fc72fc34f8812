import { checkMountPoint, PathRefused } from '../../config/host-paths';
import { ANY_FORMAT, connectorType } from '../connector-type';
import { FileshareConnector, fileshareConnectorSettings } from './fileshare-connector';

/** Windows File Share (or a PVS store path): the published disk is written to the share. */
export const fileshareConnectorType = connectorType({
  type: 'fileshare',
  label: 'Windows File Share',
  settings: fileshareConnectorSettings,
  secretFields: ['password'],
  defaultPackagingCacheGb: 0,
  imageFormats: ANY_FORMAT,
  maxDiskGb: 65536,
  capabilities: ['images'],
  create: (record) => new FileshareConnector(fileshareConnectorSettings.parse(record.settings)),
  async checkOnHost(settings, ownDirs) {
    try {
      await checkMountPoint(String(settings.mountPoint), ownDirs);
      return [];
    } catch (err) {
      if (err instanceof PathRefused) return [{ setting: 'mountPoint', message: err.message }];
      throw err;
    }
  },
});

import type { ImageSettings } from '../domain/image-settings';
import { DEFAULT_USER_LAYER_SIZE_GB, type UserLayerMode } from '../domain/user-layers';
import { encodeRegString, RegType, type RegOperation } from '../registry';
import type { LayerRegistry } from './registry-merge';

const ULAYER_KEY = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Unidesk\\ULayer';
const WSEARCH_KEY = 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\WSearch';
/** How the Layering Service spells each mode. */
const MODE_NAMES: Record<Exclude<UserLayerMode, 'none'>, string> = {
  full: 'Full',
  office365: 'Office365',
  session_office365: 'SessionOffice365',
};
/** SERVICE_DISABLED: a Full user layer's desktop boots with Windows Search off; the service sets it to 3 at logon. */
const SEARCH_DISABLED = 4;

const source = { file: '(image template settings)', line: 0 };

function dword(value: number): Buffer {
  const data = Buffer.alloc(4);
  data.writeUInt32LE(value);
  return data;
}

function multiString(values: string[]): Buffer {
  return Buffer.from(`${values.join('\0')}\0\0`, 'utf16le');
}

function setValue(key: string, name: string, type: number, data: Buffer): RegOperation {
  return { ...source, kind: 'setValue', key, name, type, data };
}

/**
 * What a template's elastic layering and user-layer options write into the image's hives, so the
 * Layering Service on a desktop finds the elastic layer share and the user-layer storage locations
 * (reference architecture, "Elastic Layer Share and User Layer Shares", "User Layer"): registry
 * operations as one "layer" that compose merges after every layer (the template's word is the last);
 * undefined when the template asks for none.
 */
export function imageSettingsRegistry(settings: ImageSettings): LayerRegistry | undefined {
  const operations: RegOperation[] = [];
  if (settings.elasticShare) {
    operations.push(
      { ...source, kind: 'createKey', key: ULAYER_KEY },
      setValue(ULAYER_KEY, 'RepositoryPath', RegType.SZ, encodeRegString(settings.elasticShare)),
    );
  }
  const userLayer = settings.userLayer;
  if (userLayer) {
    if (userLayer.locations.length === 0) {
      throw new Error('user layers need at least one storage location (System > Storage Locations)');
    }
    operations.push(
      { ...source, kind: 'createKey', key: ULAYER_KEY },
      setValue(ULAYER_KEY, 'UserLayerMode', RegType.SZ, encodeRegString(MODE_NAMES[userLayer.mode])),
      setValue(
        ULAYER_KEY,
        'DefaultUserLayerSizeInGb',
        RegType.DWORD,
        dword(userLayer.sizeGb ?? DEFAULT_USER_LAYER_SIZE_GB),
      ),
      // The locations in priority order: the first one a user's groups match holds their layer.
      { ...source, kind: 'deleteKey', key: `${ULAYER_KEY}\\StorageLocations` },
      ...userLayer.locations.flatMap((location, index): RegOperation[] => {
        const key = `${ULAYER_KEY}\\StorageLocations\\${String(index + 1).padStart(3, '0')}`;
        return [
          { ...source, kind: 'createKey', key },
          setValue(key, 'Path', RegType.SZ, encodeRegString(location.sharePath)),
          setValue(key, 'Groups', RegType.MULTI_SZ, multiString(location.groups)),
        ];
      }),
    );
    if (userLayer.mode === 'full') {
      operations.push(
        { ...source, kind: 'createKey', key: WSEARCH_KEY },
        setValue(WSEARCH_KEY, 'Start', RegType.DWORD, dword(SEARCH_DISABLED)),
      );
    }
  }
  return operations.length > 0 ? { layer: '(image template settings)', operations } : undefined;
}

import { CrudPage } from '../components/CrudPage';

interface StorageLocation {
  id: string;
  name: string;
  sharePath: string;
  adGroups: string[];
  priority: number;
}

/** User-layer storage locations: a share per set of AD groups; at logon the lowest priority number that matches wins. */
export function StoragePage() {
  return (
    <CrudPage<StorageLocation>
      config={{
        title: 'User layer storage',
        path: '/api/storage-locations',
        noun: 'storage location',
        writePermission: 'storage.write',
        columns: [
          { label: 'Name', render: (s) => s.name },
          { label: 'Share', render: (s) => <code className="path">{s.sharePath}</code> },
          { label: 'AD groups', render: (s) => s.adGroups.join(', ') || 'everyone' },
          { label: 'Priority', render: (s) => s.priority, numeric: true },
        ],
        fields: [
          { name: 'name', label: 'Name', required: true },
          { name: 'sharePath', label: 'Share', required: true, hint: '\\\\server\\share\\folder' },
          { name: 'adGroups', label: 'AD groups', kind: 'list' },
          { name: 'priority', label: 'Priority', kind: 'number', required: true, hint: 'Unique; lower wins' },
        ],
      }}
    />
  );
}

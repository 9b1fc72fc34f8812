import { useState } from 'react';
import { CrudPage } from '../components/CrudPage';
import { formatTime } from '../components/bits';
import { Link } from '../router';
import { useSession } from '../session';
import type { Layer } from '../types';
import { TYPE_LABEL } from '../labels';
import { NewLayerDialog } from './NewLayerDialog';

/** Every layer, filtered by type and name, 50 to a page (a list of thousands stays quick). */
export function LayersPage() {
  const { can } = useSession();
  const [creating, setCreating] = useState(false);
  const mayCreate = ['os', 'app', 'platform'].some((t) => can(`layers.${t}.write`));
  return (
    <>
      <CrudPage<Layer>
        config={{
          title: 'Layers',
          path: '/api/layers',
          noun: 'layer',
          nameFilter: true,
          filters: [
            {
              name: 'type',
              label: 'Type',
              options: [['', 'All'], ...Object.entries(TYPE_LABEL).map(([v, l]): [string, string] => [v, l])],
            },
          ],
          empty: 'No layers match.',
          headerActions: mayCreate && (
            <button type="button" className="primary" onClick={() => setCreating(true)}>
              New layer
            </button>
          ),
          columns: [
            {
              label: 'Name',
              render: (layer) => (
                <>
                  <Link href={`/layers/${layer.id}`}>{layer.name}</Link>
                  {layer.description && <div className="muted small">{layer.description}</div>}
                </>
              ),
            },
            { label: 'Type', render: (layer) => TYPE_LABEL[layer.type] },
            { label: 'OS layer', render: (layer) => layer.osLayerName ?? '—' },
            { label: 'Versions', render: (layer) => layer.versionCount, numeric: true },
            { label: 'Changed', render: (layer) => formatTime(layer.updatedAt) },
          ],
        }}
      />
      {creating && <NewLayerDialog onClose={() => setCreating(false)} />}
    </>
  );
}

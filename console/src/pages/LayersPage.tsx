import { useState } from 'react';
import { api, query } from '../api';
import { Pager } from '../components/Pager';
import { ProblemView } from '../components/Problem';
import { Empty, NameFilter, PageHeader, formatTime } from '../components/bits';
import { useDebounced, useLoad } from '../hooks';
import { Link } from '../router';
import { useSession } from '../session';
import type { Layer, Page } from '../types';
import { TYPE_LABEL } from '../labels';
import { NewLayerDialog } from './NewLayerDialog';

const PAGE_SIZE = 50;

/** Every layer, filtered by type and name, 50 to a page (a list of thousands stays quick). */
export function LayersPage() {
  const { can } = useSession();
  const [type, setType] = useState('');
  const [name, setName] = useState('');
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const filter = useDebounced(name);
  const list = useLoad(
    () => api.get<Page<Layer>>(`/api/layers${query({ type, name: filter, page, pageSize: PAGE_SIZE })}`),
    `${type}|${filter}|${page}`,
  );
  const mayCreate = ['os', 'app', 'platform'].some((t) => can(`layers.${t}.write`));
  return (
    <section>
      <PageHeader title="Layers">
        {mayCreate && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New layer
          </button>
        )}
      </PageHeader>
      <div className="filters" role="search">
        <label>
          Type{' '}
          <select
            value={type}
            onChange={(e) => {
              setType(e.target.value);
              setPage(1);
            }}
          >
            <option value="">All</option>
            <option value="os">OS</option>
            <option value="platform">Platform</option>
            <option value="app">App</option>
          </select>
        </label>
        <NameFilter
          value={name}
          onChange={(value) => {
            setName(value);
            setPage(1);
          }}
        />
      </div>
      <ProblemView error={list.error} />
      {list.data && list.data.items.length === 0 && <Empty>No layers match.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">OS layer</th>
              <th scope="col" className="num">
                Versions
              </th>
              <th scope="col">Changed</th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((layer) => (
              <tr key={layer.id}>
                <td>
                  <Link href={`/layers/${layer.id}`}>{layer.name}</Link>
                  {layer.description && <div className="muted small">{layer.description}</div>}
                </td>
                <td>{TYPE_LABEL[layer.type]}</td>
                <td>{layer.osLayerName ?? '—'}</td>
                <td className="num">{layer.versionCount}</td>
                <td>{formatTime(layer.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.data && <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={setPage} />}
      {creating && <NewLayerDialog onClose={() => setCreating(false)} />}
    </section>
  );
}

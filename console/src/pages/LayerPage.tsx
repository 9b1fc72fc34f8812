import { useState } from 'react';
import { api } from '../api';
import { ProblemView } from '../components/Problem';
import { TaskWatch } from '../components/TaskWatch';
import { Badge, Empty, PageHeader, formatBytes, formatTime } from '../components/bits';
import { useAction, useLoad } from '../hooks';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import type { Layer, LayerVersion, Page } from '../types';
import { AddVersionDialog } from './AddVersionDialog';
import { TYPE_LABEL } from '../labels';

const FIT_LABEL = { fit: 'Fit', not_recommended: 'Not recommended', unfit: 'Unfit' } as const;

/** One layer: its versions with state, size, hash and elastic fit; add a version, delete one or all. */
export function LayerPage({ id }: { id: string }) {
  const { can } = useSession();
  const layer = useLoad(() => api.get<Layer>(`/api/layers/${id}`), id);
  const versions = useLoad(
    () => api.get<Page<LayerVersion>>(`/api/layers/${id}/versions?pageSize=200`),
    id,
    // While a version is being made its state changes on its own: look again every few seconds.
    3000,
  );
  const [adding, setAdding] = useState(() => new URLSearchParams(window.location.search).has('add'));
  const [taskId, setTaskId] = useState<string>();
  const action = useAction();
  if (layer.error) return <ProblemView error={layer.error} />;
  if (!layer.data) return <p className="loading">Loading…</p>;
  const mayWrite = can(`layers.${layer.data.type}.write`);

  const deleteVersion = (v: LayerVersion) =>
    window.confirm(`Delete version ${v.version} of ${layer.data!.name}?`) &&
    void action.run(() => api.delete(`/api/layers/${id}/versions/${v.id}`)).then(versions.reload);
  const deleteLayer = async () => {
    if (!window.confirm(`Delete the layer ${layer.data!.name}?`)) return;
    const done = await action.run(async () => (await api.delete(`/api/layers/${id}`), true));
    if (done) navigate('/layers');
  };

  return (
    <section>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/layers">Layers</Link> ›
      </nav>
      <PageHeader title={layer.data.name}>
        {mayWrite && (
          <>
            <button type="button" className="primary" onClick={() => setAdding(true)}>
              Add version
            </button>
            <button type="button" className="danger" onClick={() => void deleteLayer()}>
              Delete layer
            </button>
          </>
        )}
      </PageHeader>
      <dl className="facts">
        <dt>Type</dt>
        <dd>{TYPE_LABEL[layer.data.type]}</dd>
        {layer.data.osLayerName && (
          <>
            <dt>OS layer</dt>
            <dd>
              <Link href={`/layers/${layer.data.osLayerId}`}>{layer.data.osLayerName}</Link>
            </dd>
          </>
        )}
        <dt>Description</dt>
        <dd>{layer.data.description || '—'}</dd>
        <dt>Created</dt>
        <dd>{formatTime(layer.data.createdAt)}</dd>
      </dl>
      <ProblemView error={action.error} />
      {taskId && <TaskWatch taskId={taskId} onClosed={versions.reload} />}
      <h2>Versions</h2>
      {versions.data?.items.length === 0 && <Empty>No versions yet.</Empty>}
      {versions.data && versions.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">State</th>
              <th scope="col" className="num">
                Size
              </th>
              <th scope="col">SHA-256</th>
              <th scope="col">Elastic fit</th>
              <th scope="col" className="num">
                Priority
              </th>
              <th scope="col">Created</th>
              {mayWrite && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {versions.data.items.map((v) => (
              <tr key={v.id}>
                <td>
                  {v.version}
                  {v.description && <div className="muted small">{v.description}</div>}
                  {v.action && v.state === 'ActionRequired' && (
                    <div className="action-required">
                      <strong>Packaging machine {v.action.vm.name}</strong>
                      <p>{v.action.instructions}</p>
                    </div>
                  )}
                </td>
                <td>
                  <Badge value={v.state} />
                </td>
                <td className="num">{formatBytes(v.sizeBytes)}</td>
                <td>
                  {v.sha256 ? (
                    <code className="hash" title={v.sha256}>
                      {v.sha256.slice(0, 12)}…
                    </code>
                  ) : (
                    '—'
                  )}
                </td>
                <td>
                  {v.elasticFit ? FIT_LABEL[v.elasticFit] : '—'}
                  {v.elasticFitReasons.length > 0 && (
                    <ul className="small muted reasons">
                      {v.elasticFitReasons.map((r) => (
                        <li key={r.rule + r.detail}>
                          {r.rule}: {r.detail}
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td className="num">{v.creationSequence}</td>
                <td>{formatTime(v.createdAt)}</td>
                {mayWrite && (
                  <td>
                    {v.state !== 'Deleted' && (
                      <button
                        type="button"
                        className="small danger"
                        aria-label={`Delete version ${v.version}`}
                        onClick={() => deleteVersion(v)}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {adding && (
        <AddVersionDialog
          layer={layer.data}
          onClose={() => setAdding(false)}
          onStarted={(id) => {
            setAdding(false);
            setTaskId(id);
            versions.reload();
          }}
        />
      )}
    </section>
  );
}

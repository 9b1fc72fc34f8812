import { useState, type FormEvent } from 'react';
import { api, query } from '../api';
import { ProblemView } from '../components/Problem';
import { TaskWatch } from '../components/TaskWatch';
import { Empty, Field, PageHeader } from '../components/bits';
import { useAction, useDebounced, useLoad } from '../hooks';
import { TYPE_LABEL } from '../labels';
import { useSession } from '../session';
import type { Layer, LayerVersion, Page, Task } from '../types';

interface Chosen {
  versionId: string;
  label: string;
}

interface TransferResult {
  transferred: string[];
  skipped: string[];
}

/** Where a transfer goes or comes from: a folder on a share the appliance has mounted. */
function FolderFields({
  mountPoint,
  folder,
  onChange,
}: {
  mountPoint: string;
  folder: string;
  onChange(value: { mountPoint: string; folder: string }): void;
}) {
  return (
    <div className="grid3">
      <Field label="Mount point" hint="Where the appliance has the transfer share mounted">
        <input
          required
          value={mountPoint}
          onChange={(e) => onChange({ mountPoint: e.target.value, folder })}
        />
      </Field>
      <Field label="Folder" hint="The export's folder on the share">
        <input required value={folder} onChange={(e) => onChange({ mountPoint, folder: e.target.value })} />
      </Field>
    </div>
  );
}

/** Picks a layer by name, then one of its deployable versions, and adds it to the export. */
function VersionPicker({ chosen, onAdd }: { chosen: Chosen[]; onAdd(version: Chosen): void }) {
  const [name, setName] = useState('');
  const [layerId, setLayerId] = useState('');
  const [versionId, setVersionId] = useState('');
  const filter = useDebounced(name);
  const layers = useLoad(
    () => api.get<Page<Layer>>(`/api/layers${query({ name: filter, pageSize: 50 })}`),
    filter,
  );
  const versions = useLoad(
    () =>
      layerId
        ? api.get<Page<LayerVersion>>(`/api/layers/${layerId}/versions?state=Deployable&pageSize=200`)
        : Promise.resolve(undefined),
    layerId,
  );
  const layer = layers.data?.items.find((l) => l.id === layerId);
  const version = versions.data?.items.find((v) => v.id === versionId);
  return (
    <fieldset>
      <legend>Versions to export</legend>
      <div className="grid3">
        <Field label="Find a layer" hint={`${layers.data?.total ?? 0} match`}>
          <input type="search" value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Layer">
          <select
            value={layerId}
            onChange={(e) => {
              setLayerId(e.target.value);
              setVersionId('');
            }}
          >
            <option value="">Choose…</option>
            {layers.data?.items.map((l) => (
              <option key={l.id} value={l.id}>
                {l.name} ({TYPE_LABEL[l.type]})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Version" hint="Deployable versions only">
          <select value={versionId} onChange={(e) => setVersionId(e.target.value)}>
            <option value="">Choose…</option>
            {versions.data?.items.map((v) => (
              <option key={v.id} value={v.id} disabled={chosen.some((c) => c.versionId === v.id)}>
                {v.version}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <button
        type="button"
        disabled={!layer || !version}
        onClick={() => {
          onAdd({ versionId, label: `${layer!.name} ${version!.version}` });
          setVersionId('');
        }}
      >
        Add version
      </button>
    </fieldset>
  );
}

/** The task of a transfer and, once it completed, what moved and what was there already. */
function TransferWatch({ taskId }: { taskId: string }) {
  const [result, setResult] = useState<TransferResult>();
  return (
    <div className="panel">
      <h2>Transfer</h2>
      <TaskWatch
        taskId={taskId}
        onClosed={(task) => task.state === 'completed' && setResult(task.result as TransferResult)}
      />
      {result && (
        <ul aria-label="Transferred versions">
          {result.transferred.map((line) => (
            <li key={line}>Transferred {line}</li>
          ))}
          {result.skipped.map((line) => (
            <li key={line}>Skipped {line} (already here)</li>
          ))}
        </ul>
      )}
    </div>
  );
}

/**
 * Layer export and import between appliances: chosen versions (OS layers first) into a folder on a share,
 * or an export brought in with every hash checked first. One transfer runs at a time.
 */
export function LayerTransferPage() {
  const { can } = useSession();
  const [exportTo, setExportTo] = useState({ mountPoint: '', folder: '' });
  const [importFrom, setImportFrom] = useState({ mountPoint: '', folder: '' });
  const [chosen, setChosen] = useState<Chosen[]>([]);
  // Transfers run one at a time under one task id, so each start is counted to follow the new run.
  const [started, setStarted] = useState<{ taskId: string; count: number }>();
  const { run, error, busy } = useAction();

  const start = async (event: FormEvent, direction: 'export' | 'import') => {
    event.preventDefault();
    const body =
      direction === 'export' ? { ...exportTo, versionIds: chosen.map((c) => c.versionId) } : importFrom;
    const task = await run(() => api.post<Task>(`/api/layer-transfers/${direction}`, body));
    if (task) setStarted((s) => ({ taskId: task.id, count: (s?.count ?? 0) + 1 }));
  };

  return (
    <section>
      <PageHeader title="Layer transfer" />
      <p className="muted">
        Move layer versions between appliances through a folder on a share both have mounted: the disks and a
        manifest with each one&apos;s hash. One transfer runs at a time.
      </p>
      <ProblemView error={error} />
      {started && <TransferWatch key={started.count} taskId={started.taskId} />}
      {can('layers.export') && (
        <form className="panel" onSubmit={(e) => void start(e, 'export')} aria-labelledby="export-heading">
          <h2 id="export-heading">Export</h2>
          <VersionPicker chosen={chosen} onAdd={(v) => setChosen((c) => [...c, v])} />
          {chosen.length === 0 ? (
            <Empty>No versions chosen yet.</Empty>
          ) : (
            <ul className="chosen" aria-label="Chosen versions">
              {chosen.map((c) => (
                <li key={c.versionId}>
                  {c.label}{' '}
                  <button
                    type="button"
                    className="small"
                    onClick={() => setChosen((all) => all.filter((x) => x.versionId !== c.versionId))}
                  >
                    Remove<span className="visually-hidden"> {c.label}</span>
                  </button>
                </li>
              ))}
            </ul>
          )}
          <FolderFields {...exportTo} onChange={setExportTo} />
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy || chosen.length === 0}>
              Export {chosen.length} version{chosen.length === 1 ? '' : 's'}
            </button>
          </div>
        </form>
      )}
      {can('layers.import') && (
        <form className="panel" onSubmit={(e) => void start(e, 'import')} aria-labelledby="import-heading">
          <h2 id="import-heading">Import</h2>
          <FolderFields {...importFrom} onChange={setImportFrom} />
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>
              Import
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

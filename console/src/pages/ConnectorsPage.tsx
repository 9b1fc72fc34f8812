import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { Dialog } from '../components/Dialog';
import { ProblemView } from '../components/Problem';
import { SchemaForm, labelOf } from '../components/SchemaForm';
import { TaskWatch } from '../components/TaskWatch';
import { Badge, Empty, Field, PageHeader } from '../components/bits';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import type { Connector, ConnectorType, Page, Task } from '../types';

interface TestReport {
  ok: boolean;
  checks: { field?: string; ok: boolean; message: string }[];
}

/** Connector configurations: forms from each type's JSON Schema, write-only secrets, the Test button. */
export function ConnectorsPage() {
  const { can } = useSession();
  const list = useLoad(() => api.get<Page<Connector>>('/api/connectors?pageSize=200'), 'list');
  const types = useLoad(() => api.get<ConnectorType[]>('/api/connectors/types'), 'types');
  const [editing, setEditing] = useState<Connector | 'new'>();
  const [test, setTest] = useState<{ connector: string; taskId: string; report?: TestReport }>();
  const action = useAction();

  const runTest = async (c: Connector) => {
    const task = await action.run(() => api.post<Task>(`/api/connectors/${c.id}/test`));
    if (task) setTest({ connector: c.name, taskId: task.id });
  };
  const remove = async (c: Connector) => {
    if (!window.confirm(`Delete the connector ${c.name}?`)) return;
    await action.run(() => api.delete(`/api/connectors/${c.id}`));
    list.reload();
  };

  return (
    <section>
      <PageHeader title="Connectors">
        {can('connectors.write') && (
          <button type="button" className="primary" onClick={() => setEditing('new')}>
            New connector
          </button>
        )}
      </PageHeader>
      <ProblemView error={list.error ?? action.error} />
      {test && (
        <div className="panel">
          <h2>Test of {test.connector}</h2>
          <TaskWatch
            taskId={test.taskId}
            onClosed={(task) => setTest((t) => t && { ...t, report: task.result as TestReport | undefined })}
          />
          {test.report && (
            <table>
              <thead>
                <tr>
                  <th scope="col">Setting</th>
                  <th scope="col">Result</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {test.report.checks.map((c, i) => (
                  <tr key={i}>
                    <td>{c.field ?? '—'}</td>
                    <td>
                      <Badge value={c.ok ? 'ok' : 'failed'} />
                    </td>
                    <td>{c.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
      {list.data?.items.length === 0 && <Empty>No connectors yet.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col" className="num">
                Packaging cache
              </th>
              <th scope="col" className="num">
                Hit rate
              </th>
              <th scope="col">Offload compositing</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((c) => (
              <tr key={c.id}>
                <td>
                  {c.name}
                  {!c.implemented && <div className="muted small">Not built into this appliance</div>}
                </td>
                <td>{types.data?.find((t) => t.type === c.type)?.label ?? c.type}</td>
                <td className="num">{c.packagingCacheGb ? `${c.packagingCacheGb} GB` : 'off'}</td>
                <td className="num">
                  {c.packagingCacheHitRate === null ? '—' : `${Math.round(c.packagingCacheHitRate * 100)}%`}
                </td>
                <td>{c.offloadCompositing ? 'On: composes in a Compositing Engine' : 'Off'}</td>
                <td className="row-actions">
                  {can('connectors.write') && (
                    <>
                      <button
                        type="button"
                        className="small"
                        disabled={!c.implemented}
                        onClick={() => void runTest(c)}
                      >
                        Test
                      </button>
                      <button type="button" className="small" onClick={() => setEditing(c)}>
                        Edit
                      </button>
                      <button type="button" className="small danger" onClick={() => void remove(c)}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing && types.data && (
        <ConnectorDialog
          connector={editing === 'new' ? undefined : editing}
          types={types.data}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            list.reload();
          }}
        />
      )}
    </section>
  );
}

function ConnectorDialog({
  connector,
  types,
  onClose,
  onSaved,
}: {
  connector?: Connector;
  types: ConnectorType[];
  onClose(): void;
  onSaved(): void;
}) {
  const [type, setType] = useState(
    connector?.type ?? types.find((t) => t.implemented)?.type ?? types[0].type,
  );
  const [name, setName] = useState(connector?.name ?? '');
  const [settings, setSettings] = useState<Record<string, unknown>>(connector?.settings ?? {});
  const [secrets, setSecrets] = useState<Record<string, string>>({});
  const definition = types.find((t) => t.type === type)!;
  const [cacheGb, setCacheGb] = useState(
    connector?.packagingCacheGb ?? definition.defaultPackagingCacheGb ?? 0,
  );
  const [offload, setOffload] = useState(connector?.offloadCompositing ?? false);
  const { run, error, busy } = useAction();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    // Secrets are write-only: only the ones typed in are sent; an empty field keeps what is stored.
    const typed = Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== ''));
    const body = { name, settings, secrets: typed, packagingCacheGb: cacheGb, offloadCompositing: offload };
    const saved = await run(() =>
      connector
        ? api.patch(`/api/connectors/${connector.id}`, body)
        : api.post('/api/connectors', { type, ...body }),
    );
    if (saved) onSaved();
  };

  return (
    <Dialog title={connector ? `Edit ${connector.name}` : 'New connector'} onClose={onClose}>
      <form onSubmit={submit}>
        {!connector && (
          <Field label="Type">
            <select
              value={type}
              onChange={(e) => {
                setType(e.target.value);
                setSettings({});
              }}
            >
              {types.map((t) => (
                <option key={t.type} value={t.type} disabled={!t.implemented}>
                  {t.label}
                  {t.implemented ? '' : ' (not in this build)'}
                </option>
              ))}
            </select>
          </Field>
        )}
        <Field label="Name">
          <input name="name" required value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <fieldset>
          <legend>{definition.label} settings</legend>
          <SchemaForm
            schema={definition.settings}
            value={settings}
            onChange={setSettings}
            idPrefix="settings"
          />
          {definition.secretFields.map((field) => (
            <Field
              key={field}
              label={`${labelOf(field)} (secret)`}
              hint={connector?.secretsSet[field] ? 'Set; leave empty to keep it' : 'Not set'}
            >
              <input
                type="password"
                autoComplete="new-password"
                value={secrets[field] ?? ''}
                onChange={(e) => setSecrets({ ...secrets, [field]: e.target.value })}
              />
            </Field>
          ))}
        </fieldset>
        <div className="grid3">
          <Field label="Packaging cache (GB)" hint="0 turns the cache off">
            <input
              type="number"
              min={0}
              value={cacheGb}
              onChange={(e) => setCacheGb(Number(e.target.value))}
            />
          </Field>
          <label className="check">
            <input type="checkbox" checked={offload} onChange={(e) => setOffload(e.target.checked)} />
            Offload compositing
          </label>
        </div>
        <ProblemView error={error} />
        <div className="form-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Save
          </button>
        </div>
      </form>
    </Dialog>
  );
}

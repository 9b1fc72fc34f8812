import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { Dialog } from '../components/Dialog';
import { DropZone } from '../components/DropZone';
import { ProblemView } from '../components/Problem';
import { Field } from '../components/bits';
import { useAction, useLoad } from '../hooks';
import type { Connector, Layer, LayerVersion, Page, Task } from '../types';

type Method = 'files' | 'package' | 'import-disk' | 'import-vm';

const METHODS: Record<Method, string> = {
  files: 'From files (zip + .reg)',
  package: 'On a packaging machine',
  'import-disk': 'Import a disk file',
  'import-vm': "Import a VM's disk",
};

/**
 * A new version, made by a task: an OS layer is imported from a disk; an app or platform layer is
 * built from an uploaded zip (+ .reg, deletions) or installed by hand on a packaging machine.
 */
export function AddVersionDialog({
  layer,
  onClose,
  onStarted,
}: {
  layer: Layer;
  onClose(): void;
  onStarted(taskId: string): void;
}) {
  const methods: Method[] = layer.type === 'os' ? ['import-disk', 'import-vm'] : ['files', 'package'];
  const [method, setMethod] = useState<Method>(methods[0]);
  const [version, setVersion] = useState('');
  const [description, setDescription] = useState('');
  const [osVersionId, setOsVersionId] = useState('');
  const [content, setContent] = useState<File>();
  const [reg, setReg] = useState<File>();
  const [deletions, setDeletions] = useState<File>();
  const [connectorId, setConnectorId] = useState('');
  const [vmId, setVmId] = useState('');
  const [diskPath, setDiskPath] = useState('');
  const osVersions = useLoad(
    async () =>
      layer.osLayerId
        ? (
            await api.get<Page<LayerVersion>>(
              `/api/layers/${layer.osLayerId}/versions?state=Deployable&pageSize=200`,
            )
          ).items
        : [],
    layer.id,
  );
  const connectors = useLoad(() => api.get<Page<Connector>>('/api/connectors?pageSize=200'), 'connectors');
  const { run, error, busy } = useAction();

  const start = async (): Promise<Task> => {
    const base = { version, ...(description ? { description } : {}) };
    const onOs = osVersionId ? { osVersionId } : {};
    switch (method) {
      case 'files': {
        const uploaded = {
          content: await api.upload(content!),
          ...(reg ? { reg: await api.upload(reg) } : {}),
          ...(deletions ? { deletions: await api.upload(deletions) } : {}),
        };
        return api.post<Task>(`/api/layers/${layer.id}/versions/build`, { ...base, ...onOs, ...uploaded });
      }
      case 'package':
        return api.post<Task>(`/api/layers/${layer.id}/versions/package`, { ...base, ...onOs, connectorId });
      case 'import-disk':
        return api.post<Task>(`/api/layers/${layer.id}/versions/import`, { ...base, source: { diskPath } });
      case 'import-vm':
        return api.post<Task>(`/api/layers/${layer.id}/versions/import`, {
          ...base,
          source: { connectorId, vmId },
        });
    }
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const task = await run(start);
    if (task) onStarted(task.id);
  };

  return (
    <Dialog title={`Add a version to ${layer.name}`} onClose={onClose}>
      <form onSubmit={submit}>
        <fieldset className="choices">
          <legend>How</legend>
          {methods.map((m) => (
            <label key={m}>
              <input type="radio" name="method" checked={method === m} onChange={() => setMethod(m)} />
              {METHODS[m]}
            </label>
          ))}
        </fieldset>
        <Field label="Version">
          <input name="version" required value={version} onChange={(e) => setVersion(e.target.value)} />
        </Field>
        <Field label="Description">
          <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        {layer.type !== 'os' && (
          <Field label="Made on OS version" hint="Defaults to the OS layer's newest deployable version">
            <select value={osVersionId} onChange={(e) => setOsVersionId(e.target.value)}>
              <option value="">Newest</option>
              {osVersions.data?.map((v) => (
                <option key={v.id} value={v.id}>
                  {v.version}
                </option>
              ))}
            </select>
          </Field>
        )}
        {method === 'files' && (
          <>
            <DropZone label="Layer files (zip)" accept=".zip" file={content} required onFile={setContent} />
            <DropZone label="Registry changes (.reg)" accept=".reg" file={reg} onFile={setReg} />
            <DropZone
              label="Deletions (one path a line)"
              accept=".txt"
              file={deletions}
              onFile={setDeletions}
            />
          </>
        )}
        {(method === 'package' || method === 'import-vm') && (
          <Field label="Connector">
            <select required value={connectorId} onChange={(e) => setConnectorId(e.target.value)}>
              <option value="">Choose…</option>
              {connectors.data?.items.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} ({c.type})
                </option>
              ))}
            </select>
          </Field>
        )}
        {method === 'import-vm' && (
          <Field label="VM" hint="The gold VM's id or name on that platform">
            <input required value={vmId} onChange={(e) => setVmId(e.target.value)} />
          </Field>
        )}
        {method === 'import-disk' && (
          <Field label="Disk file" hint="A VHD, VHDX or VMDK under one of the appliance's import folders">
            <input required value={diskPath} onChange={(e) => setDiskPath(e.target.value)} />
          </Field>
        )}
        {method === 'package' && (
          <p className="muted small">
            The task composes a boot disk, starts a packaging machine and waits: install the application on
            it, then shut it down. This page shows the machine and what to do.
          </p>
        )}
        <ProblemView error={error} />
        <div className="form-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Starting…' : 'Start'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { Dialog } from '../components/Dialog';
import { ProblemView } from '../components/Problem';
import { Field } from '../components/bits';
import { useAction, useLoad } from '../hooks';
import { navigate } from '../router';
import { useSession } from '../session';
import type { Layer, LayerType, Page } from '../types';
import { TYPE_LABEL } from '../labels';

/** A new layer: its type, name and (app and platform) the OS layer it binds to; versions come next. */
export function NewLayerDialog({ onClose }: { onClose(): void }) {
  const { can } = useSession();
  const types = (['os', 'platform', 'app'] as LayerType[]).filter((t) => can(`layers.${t}.write`));
  const [type, setType] = useState<LayerType>(types.includes('app') ? 'app' : types[0]);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [osLayerId, setOsLayerId] = useState('');
  const osLayers = useLoad(() => api.get<Page<Layer>>('/api/layers?type=os&pageSize=200'), 'os');
  const { run, error, busy } = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const layer = await run(() =>
      api.post<Layer>('/api/layers', {
        type,
        name,
        ...(description ? { description } : {}),
        ...(type === 'os' ? {} : { osLayerId }),
      }),
    );
    if (layer) navigate(`/layers/${layer.id}?add=1`);
  };
  return (
    <Dialog title="New layer" onClose={onClose}>
      <form onSubmit={submit}>
        <fieldset className="choices">
          <legend>Type</legend>
          {types.map((t) => (
            <label key={t}>
              <input type="radio" name="type" value={t} checked={type === t} onChange={() => setType(t)} />
              {TYPE_LABEL[t]} layer
            </label>
          ))}
        </fieldset>
        <Field label="Name" hint="Letters, digits, spaces, dots, dashes and underscores">
          <input name="name" required value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Description">
          <input name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        {type !== 'os' && (
          <Field
            label="OS layer"
            hint="App and platform layers bind to an OS layer, not to one of its versions"
          >
            <select
              name="osLayerId"
              required
              value={osLayerId}
              onChange={(e) => setOsLayerId(e.target.value)}
            >
              <option value="">Choose…</option>
              {osLayers.data?.items.map((l) => (
                <option key={l.id} value={l.id}>
                  {l.name}
                </option>
              ))}
            </select>
          </Field>
        )}
        <ProblemView error={error} />
        <div className="form-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Create layer
          </button>
        </div>
      </form>
    </Dialog>
  );
}

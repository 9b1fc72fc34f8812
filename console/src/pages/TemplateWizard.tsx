import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { api } from '../api';
import { ProblemView } from '../components/Problem';
import { Field, PageHeader } from '../components/bits';
import { useAction, useLoad } from '../hooks';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import type { Connector, ConnectorType, Layer, LayerVersion, Page, Template } from '../types';

const STEPS = ['OS', 'Platform', 'Apps', 'Connector', 'Disk', 'Layering', 'Name'] as const;
type Step = (typeof STEPS)[number];

interface LayerWithVersions {
  layer: Layer;
  versions: LayerVersion[];
}

/** The layers of one type (bound to one OS layer) with their deployable versions, newest last. */
async function layersWithVersions(type: string, osLayerId?: string): Promise<LayerWithVersions[]> {
  const bound = osLayerId ? `&osLayerId=${osLayerId}` : '';
  const { items } = await api.get<Page<Layer>>(`/api/layers?type=${type}&pageSize=200${bound}`);
  return Promise.all(
    items.map(async (layer) => ({
      layer,
      versions: (
        await api.get<Page<LayerVersion>>(`/api/layers/${layer.id}/versions?state=Deployable&pageSize=200`)
      ).items,
    })),
  );
}

type Draft = Omit<Template, 'id' | 'createdAt' | 'updatedAt' | 'warnings'>;

const EMPTY: Draft = {
  name: '',
  description: '',
  osVersionId: '',
  platformVersionId: null,
  appVersionIds: [],
  connectorId: '',
  diskSizeGb: 60,
  diskFormat: 'VHDX',
  firmware: 'UEFI',
  elasticLayering: 'none',
  userLayer: 'none',
  sysprep: 'generalize',
};

/**
 * Creates or edits a template step by step: OS → platform → apps (in their priority order) →
 * connector → disk → elastic and user layers → name. The API validates the whole on save.
 */
export function TemplateWizard({ id }: { id?: string }) {
  const { can } = useSession();
  const [step, setStep] = useState<Step>('OS');
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const existing = useLoad(
    async () => (id ? api.get<Template>(`/api/templates/${id}`) : undefined),
    id ?? 'new',
  );
  const osLayers = useLoad(() => layersWithVersions('os'), 'os');
  const osLayerId = osLayers.data?.find((l) => l.versions.some((v) => v.id === draft.osVersionId))?.layer.id;
  const platforms = useLoad(
    async () => (osLayerId ? layersWithVersions('platform', osLayerId) : []),
    `p${osLayerId}`,
  );
  const apps = useLoad(async () => (osLayerId ? layersWithVersions('app', osLayerId) : []), `a${osLayerId}`);
  const connectors = useLoad(() => api.get<Page<Connector>>('/api/connectors?pageSize=200'), 'c');
  const types = useLoad(() => api.get<ConnectorType[]>('/api/connectors/types'), 't');
  const save = useAction();
  const [warnings, setWarnings] = useState<Template['warnings']>([]);

  useEffect(() => {
    if (existing.data) {
      const loaded = existing.data;
      const fields = Object.fromEntries(Object.keys(EMPTY).map((k) => [k, loaded[k as keyof Draft]]));
      setDraft({ ...EMPTY, ...fields, description: loaded.description ?? '' });
      setWarnings(loaded.warnings ?? []);
    }
  }, [existing.data]);

  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const connectorType = types.data?.find(
    (t) => t.type === connectors.data?.items.find((c) => c.id === draft.connectorId)?.type,
  );
  const formats = connectorType ? Object.keys(connectorType.imageFormats) : ['VHD', 'VHDX', 'VMDK'];
  const firmwares = connectorType?.imageFormats[draft.diskFormat] ?? ['BIOS', 'UEFI'];

  /** The chosen apps in priority order: creation order, the later one wins a conflict. */
  const chosenApps = useMemo(() => {
    const chosen = (apps.data ?? []).flatMap(({ layer, versions }) =>
      versions.filter((v) => draft.appVersionIds.includes(v.id)).map((v) => ({ layer, version: v })),
    );
    return chosen.sort((a, b) => a.version.creationSequence - b.version.creationSequence);
  }, [apps.data, draft.appVersionIds]);

  const chooseApp = (entry: LayerWithVersions, versionId: string) => {
    const others = draft.appVersionIds.filter((v) => !entry.versions.some((ev) => ev.id === v));
    set('appVersionIds', versionId ? [...others, versionId] : others);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    // Enter in a field of an earlier step moves on, as Next does; only the last step saves.
    if (STEPS.indexOf(step) < STEPS.length - 1) return setStep(STEPS[STEPS.indexOf(step) + 1]);
    const body = {
      ...draft,
      ...(draft.description ? {} : { description: undefined }),
    };
    const saved = await save.run(() =>
      id ? api.patch<Template>(`/api/templates/${id}`, body) : api.post<Template>('/api/templates', body),
    );
    if (saved) {
      setWarnings(saved.warnings ?? []);
      if (!saved.warnings?.length) navigate('/templates');
      else if (!id) navigate(`/templates/${saved.id}`);
    }
  };

  const index = STEPS.indexOf(step);
  const readOnly = !can('templates.write');
  return (
    <section>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/templates">Templates</Link> ›
      </nav>
      <PageHeader title={id ? `Template ${existing.data?.name ?? ''}` : 'New template'} />
      <ol className="steps" aria-label="Steps">
        {STEPS.map((s, i) => (
          <li key={s}>
            <button
              type="button"
              aria-current={s === step ? 'step' : undefined}
              className={i < index ? 'done' : ''}
              onClick={() => setStep(s)}
            >
              <span className="step-number">{i + 1}</span> {s}
            </button>
          </li>
        ))}
      </ol>
      <form onSubmit={submit} className="wizard">
        <fieldset disabled={readOnly}>
          {step === 'OS' && (
            <Field label="OS layer version">
              <select
                name="osVersionId"
                required
                value={draft.osVersionId}
                onChange={(e) =>
                  setDraft({
                    ...draft,
                    osVersionId: e.target.value,
                    platformVersionId: null,
                    appVersionIds: [],
                  })
                }
              >
                <option value="">Choose…</option>
                {osLayers.data?.map(({ layer, versions }) => (
                  <optgroup key={layer.id} label={layer.name}>
                    {versions.map((v) => (
                      <option key={v.id} value={v.id}>
                        {layer.name} {v.version}
                      </option>
                    ))}
                  </optgroup>
                ))}
              </select>
            </Field>
          )}
          {step === 'Platform' && (
            <Field label="Platform layer version" hint="Highest priority: it wins every conflict">
              <select
                name="platformVersionId"
                value={draft.platformVersionId ?? ''}
                onChange={(e) => set('platformVersionId', e.target.value || null)}
              >
                <option value="">None</option>
                {platforms.data?.map(({ layer, versions }) => (
                  <optgroup key={layer.id} label={layer.name}>
                    {versions.map((v) => (
                      <option key={v.id} value={v.id}>
                        {layer.name} {v.version}
                      </option>
                    ))}
                  </optgroup>
                ))}
              </select>
            </Field>
          )}
          {step === 'Apps' && (
            <div className="apps-step">
              <table>
                <caption>App layers bound to the OS layer</caption>
                <thead>
                  <tr>
                    <th scope="col">App layer</th>
                    <th scope="col">Version</th>
                  </tr>
                </thead>
                <tbody>
                  {apps.data?.map((entry) => (
                    <tr key={entry.layer.id}>
                      <td>{entry.layer.name}</td>
                      <td>
                        <select
                          aria-label={`Version of ${entry.layer.name}`}
                          value={entry.versions.find((v) => draft.appVersionIds.includes(v.id))?.id ?? ''}
                          onChange={(e) => chooseApp(entry, e.target.value)}
                        >
                          <option value="">Not in the image</option>
                          {entry.versions.map((v) => (
                            <option key={v.id} value={v.id}>
                              {v.version}
                            </option>
                          ))}
                        </select>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div>
                <h2>Priority</h2>
                <p className="muted small">
                  Lowest first; a later layer wins a conflict, the platform layer wins all.
                </p>
                <ol className="priority">
                  <li>OS</li>
                  {chosenApps.map(({ layer, version }) => (
                    <li key={version.id}>
                      {layer.name} {version.version}
                    </li>
                  ))}
                  {draft.platformVersionId && <li>Platform layer</li>}
                </ol>
              </div>
            </div>
          )}
          {step === 'Connector' && (
            <Field label="Connector" hint="Where the image is published">
              <select
                name="connectorId"
                required
                value={draft.connectorId}
                onChange={(e) => set('connectorId', e.target.value)}
              >
                <option value="">Choose…</option>
                {connectors.data?.items.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({c.type})
                  </option>
                ))}
              </select>
            </Field>
          )}
          {step === 'Disk' && (
            <div className="grid3">
              <Field label="Disk size (GB)">
                <input
                  name="diskSizeGb"
                  type="number"
                  min={1}
                  max={connectorType?.maxDiskGb ?? 65536}
                  required
                  value={draft.diskSizeGb}
                  onChange={(e) => set('diskSizeGb', Number(e.target.value))}
                />
              </Field>
              <Field label="Format">
                <select
                  name="diskFormat"
                  value={draft.diskFormat}
                  onChange={(e) => set('diskFormat', e.target.value as Draft['diskFormat'])}
                >
                  {formats.map((f) => (
                    <option key={f}>{f}</option>
                  ))}
                </select>
              </Field>
              <Field label="Firmware" hint="BIOS = Generation 1 (MBR), UEFI = Generation 2 (GPT)">
                <select
                  name="firmware"
                  value={draft.firmware}
                  onChange={(e) => set('firmware', e.target.value as Draft['firmware'])}
                >
                  {firmwares.map((f) => (
                    <option key={f}>{f}</option>
                  ))}
                </select>
              </Field>
            </div>
          )}
          {step === 'Layering' && (
            <div className="grid3">
              <Field label="Elastic layering">
                <select
                  name="elasticLayering"
                  value={draft.elasticLayering}
                  onChange={(e) => set('elasticLayering', e.target.value as Draft['elasticLayering'])}
                >
                  <option value="none">None</option>
                  <option value="app">Application layering</option>
                  <option value="app_and_user">Application and user layers</option>
                </select>
              </Field>
              <Field label="User layer">
                <select
                  name="userLayer"
                  value={draft.userLayer}
                  onChange={(e) => set('userLayer', e.target.value as Draft['userLayer'])}
                >
                  <option value="none">Off</option>
                  <option value="full">Full</option>
                  <option value="office365">Office 365</option>
                  <option value="session_office365">Session Office 365</option>
                </select>
              </Field>
              <Field label="Sysprep">
                <select
                  name="sysprep"
                  value={draft.sysprep}
                  onChange={(e) => set('sysprep', e.target.value as Draft['sysprep'])}
                >
                  <option value="generalize">Generalize</option>
                  <option value="generalize_offline">Generalize offline</option>
                  <option value="none">None</option>
                </select>
              </Field>
            </div>
          )}
          {step === 'Name' && (
            <>
              <Field label="Template name">
                <input
                  name="name"
                  required
                  value={draft.name}
                  onChange={(e) => set('name', e.target.value)}
                />
              </Field>
              <Field label="Description">
                <input
                  name="description"
                  value={draft.description}
                  onChange={(e) => set('description', e.target.value)}
                />
              </Field>
            </>
          )}
        </fieldset>
        {warnings && warnings.length > 0 && (
          <div className="warning" role="status">
            <strong>Saved, with warnings</strong>
            <ul>
              {warnings.map((w) => (
                <li key={w.field + w.message}>{w.message}</li>
              ))}
            </ul>
          </div>
        )}
        <ProblemView error={save.error ?? existing.error} />
        <div className="form-actions">
          <button type="button" disabled={index === 0} onClick={() => setStep(STEPS[index - 1])}>
            Back
          </button>
          {index < STEPS.length - 1 && (
            <button type="button" className="primary" onClick={() => setStep(STEPS[index + 1])}>
              Next
            </button>
          )}
          {index === STEPS.length - 1 && !readOnly && (
            <button type="submit" className="primary" disabled={save.busy}>
              {id ? 'Save template' : 'Create template'}
            </button>
          )}
        </div>
      </form>
    </section>
  );
}

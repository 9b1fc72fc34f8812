import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { ProblemView } from '../components/Problem';
import { TaskResult } from '../components/TaskResult';
import { TaskWatch } from '../components/TaskWatch';
import { Field, PageHeader } from '../components/bits';
import { useAction, useLoad } from '../hooks';
import type { Connector, Page, Task } from '../types';

type Phase = 'export' | 'prepare' | 'upload' | 'publish' | 'run';

/** The phases as the Citrix.AppLayering cmdlets name them; each starts one task (POST /api/ips/<phase>). */
const PHASES: { phase: Phase; label: string; help: string }[] = [
  { phase: 'export', label: 'Export', help: "A VM's disk → <name>.vhdx on the share, with its SHA-256" },
  { phase: 'prepare', label: 'Prepare', help: 'A copy of a disk on the share made fit for its target' },
  {
    phase: 'upload',
    label: 'Upload',
    help: "A disk on the share → a page blob in the Azure connector's container",
  },
  {
    phase: 'publish',
    label: 'Publish',
    help: 'PVS: the vDisk and its .pvp in the store; MCS: a master image VM',
  },
  { phase: 'run', label: 'Run', help: 'Every phase the source → target pair needs, in one task' },
];

/** A field of a phase's form: its body name, label, and for connectors the types that take it. */
interface PhaseField {
  name: string;
  label: string;
  connectorTypes?: string[];
  choices?: string[];
  optional?: boolean;
  hint?: string;
  /** Shown only when the form's values say so (a run's MCS or PVS source). */
  when?(values: Record<string, string>): boolean;
}

const SHARE: PhaseField = {
  name: 'shareConnectorId',
  label: 'Share',
  connectorTypes: ['fileshare'],
  hint: 'The Windows File Share connector disks travel on between phases',
};
const FILE: PhaseField = { name: 'fileName', label: 'Disk on the share', hint: 'e.g. Win11.vhdx' };
const PROVISIONING: PhaseField = { name: 'provisioningType', label: 'Provisioning', choices: ['MCS', 'PVS'] };
const hypervisors = ['local', 'vsphere'];

const FIELDS: Record<Phase, PhaseField[]> = {
  export: [
    { name: 'sourceConnectorId', label: 'Source connector', connectorTypes: hypervisors },
    { name: 'vmId', label: 'VM', hint: "The VM's id on that connector" },
    { name: 'disk', label: 'Disk of the VM', optional: true, hint: 'Its boot disk unless named' },
    SHARE,
    { name: 'name', label: 'Name', hint: 'The disk on the share is <name>.vhdx' },
  ],
  prepare: [
    SHARE,
    FILE,
    {
      name: 'targetConnectorId',
      label: 'Target connector',
      connectorTypes: ['azure', ...hypervisors, 'fileshare'],
      hint: 'Where the image goes: Azure, vSphere or local (MCS), a PVS store share',
    },
    PROVISIONING,
    {
      name: 'output',
      label: 'Output name',
      optional: true,
      hint: 'The prepared copy; named after the disk unless given',
    },
  ],
  upload: [
    SHARE,
    FILE,
    { name: 'targetConnectorId', label: 'Azure connector', connectorTypes: ['azure'] },
    { name: 'blobName', label: 'Blob name', optional: true, hint: 'The disk’s name with .vhd unless given' },
  ],
  publish: [
    SHARE,
    FILE,
    PROVISIONING,
    {
      name: 'targetConnectorId',
      label: 'Target connector',
      connectorTypes: ['fileshare', ...hypervisors],
      hint: 'PVS: the file share connector on the store; MCS: vSphere or local',
    },
    { name: 'name', label: 'Name' },
  ],
  run: [
    { name: 'sourceProvisioning', label: 'From', choices: ['MCS', 'PVS'] },
    { name: 'targetProvisioning', label: 'To', choices: ['MCS', 'PVS'] },
    SHARE,
    {
      name: 'sourceConnectorId',
      label: 'Source connector',
      connectorTypes: hypervisors,
      when: (v) => v.sourceProvisioning === 'MCS',
    },
    { name: 'vmId', label: 'VM', when: (v) => v.sourceProvisioning === 'MCS' },
    {
      name: 'sourceDisk',
      label: 'vDisk on the share',
      when: (v) => v.sourceProvisioning === 'PVS',
    },
    {
      name: 'targetConnectorId',
      label: 'Target connector',
      connectorTypes: ['azure', 'fileshare', ...hypervisors],
    },
    { name: 'name', label: 'Name' },
  ],
};

/** The prepare switches, with the cmdlet's names (Prepare-ALImage). */
const SWITCHES: { name: string; label: string }[] = [
  { name: 'DomainUnjoin', label: 'DomainUnjoin: leave the domain' },
  { name: 'InstallUpl', label: 'InstallUpl: install the User Personalization Layer' },
  { name: 'Chkdsk', label: 'Chkdsk at first start' },
  { name: 'Defrag', label: 'Defrag at first start' },
  { name: 'EnableRdp', label: 'EnableRdp' },
  { name: 'XdReconfigure', label: 'XdReconfigure: reset the VDA registration' },
];

/** Files prepare takes as uploads (their ids go in the body). */
const UPLOADS: { name: string; label: string; hint: string }[] = [
  { name: 'guestAgent', label: 'Guest agent (zip)', hint: "The target's guest agent (Azure)" },
  { name: 'domainJoinBlob', label: 'Domain-join blob', hint: 'djoin /provision output' },
  { name: 'uplInstaller', label: 'UPL installer (zip)', hint: 'Needed with InstallUpl' },
];

function PrepareOptions({
  values,
  set,
  files,
  setFile,
}: {
  values: Record<string, string | boolean>;
  set(name: string, value: string | boolean): void;
  files: Record<string, File | undefined>;
  setFile(name: string, file: File | undefined): void;
}) {
  return (
    <fieldset>
      <legend>Prepare options</legend>
      <div className="grid3">
        {SWITCHES.map((s) => (
          <label key={s.name} className="check">
            <input
              type="checkbox"
              checked={values[s.name] === true}
              onChange={(e) => set(s.name, e.target.checked)}
            />
            {s.label}
          </label>
        ))}
      </div>
      <div className="grid3">
        <Field label="Platform" hint="The target connector's type unless it is a PVS store">
          <select value={String(values.platform ?? '')} onChange={(e) => set('platform', e.target.value)}>
            <option value="">From the target</option>
            <option value="azure">Azure</option>
            <option value="vsphere">vSphere</option>
            <option value="local">Local</option>
          </select>
        </Field>
        <Field label="Timeout (minutes)">
          <input
            type="number"
            min={1}
            max={1440}
            value={String(values.Timeout ?? '60')}
            onChange={(e) => set('Timeout', e.target.value)}
          />
        </Field>
      </div>
      <div className="grid3">
        {UPLOADS.map((u) => (
          <Field key={u.name} label={u.label} hint={files[u.name]?.name ?? u.hint}>
            <input type="file" onChange={(e) => setFile(u.name, e.target.files?.[0])} />
          </Field>
        ))}
      </div>
    </fieldset>
  );
}

/** The request body: the phase's shown fields that have a value, the switches, the uploads' ids. */
async function bodyOf(
  phase: Phase,
  values: Record<string, string | boolean>,
  files: Record<string, File | undefined>,
): Promise<Record<string, unknown>> {
  const text = values as Record<string, string>;
  const body: Record<string, unknown> = {};
  for (const field of FIELDS[phase]) {
    if (field.when && !field.when(text)) continue;
    if (text[field.name]) body[field.name] = text[field.name];
  }
  if (phase === 'prepare' || phase === 'run') {
    for (const s of SWITCHES) if (values[s.name] === true) body[s.name] = true;
    if (text.platform) body.platform = text.platform;
    if (text.Timeout) body.Timeout = Number(text.Timeout);
    for (const u of UPLOADS) {
      const file = files[u.name];
      if (file) body[u.name] = await api.upload(file);
    }
  }
  return body;
}

/** Image Portability: a form per phase with the cmdlets' option names, then the task followed to its end. */
export function PortabilityPage() {
  const [phase, setPhase] = useState<Phase>('export');
  const [values, setValues] = useState<Record<string, string | boolean>>({
    provisioningType: 'MCS',
    sourceProvisioning: 'MCS',
    targetProvisioning: 'MCS',
  });
  const [files, setFiles] = useState<Record<string, File | undefined>>({});
  const [started, setStarted] = useState<{ taskId: string; task?: Task }>();
  const connectors = useLoad(() => api.get<Page<Connector>>('/api/connectors?pageSize=200'), 'connectors');
  const { run, error, busy } = useAction();
  const set = (name: string, value: string | boolean) => setValues((v) => ({ ...v, [name]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const task = await run(async () =>
      api.post<Task>(`/api/ips/${phase}`, await bodyOf(phase, values, files)),
    );
    if (task) setStarted({ taskId: task.id });
  };

  return (
    <section>
      <PageHeader title="Image Portability" />
      <p className="muted">
        Move a master image between platforms and provisioning types. Each phase is a task with progress, stop
        and retry; a stopped or failed one removes what it made.
      </p>
      <form onSubmit={submit} className="panel">
        <fieldset className="choices">
          <legend>Phase</legend>
          {PHASES.map((p) => (
            <label key={p.phase}>
              <input
                type="radio"
                name="phase"
                value={p.phase}
                checked={phase === p.phase}
                onChange={() => setPhase(p.phase)}
              />
              {p.label}
            </label>
          ))}
        </fieldset>
        <p className="muted">{PHASES.find((p) => p.phase === phase)!.help}</p>
        <div className="grid3">
          {FIELDS[phase]
            .filter((f) => !f.when || f.when(values as Record<string, string>))
            .map((f) => (
              <Field key={f.name} label={f.optional ? `${f.label} (optional)` : f.label} hint={f.hint}>
                {f.connectorTypes || f.choices ? (
                  <select
                    name={f.name}
                    required={!f.optional}
                    value={String(values[f.name] ?? '')}
                    onChange={(e) => set(f.name, e.target.value)}
                  >
                    {f.connectorTypes && <option value="">Choose…</option>}
                    {f.choices?.map((c) => (
                      <option key={c}>{c}</option>
                    ))}
                    {connectors.data?.items
                      .filter((c) => f.connectorTypes?.includes(c.type))
                      .map((c) => (
                        <option key={c.id} value={c.id}>
                          {c.name} ({c.type})
                        </option>
                      ))}
                  </select>
                ) : (
                  <input
                    name={f.name}
                    required={!f.optional}
                    value={String(values[f.name] ?? '')}
                    onChange={(e) => set(f.name, e.target.value)}
                  />
                )}
              </Field>
            ))}
        </div>
        {(phase === 'prepare' || phase === 'run') && (
          <PrepareOptions
            values={values}
            set={set}
            files={files}
            setFile={(name, file) => setFiles((f) => ({ ...f, [name]: file }))}
          />
        )}
        <ProblemView error={error ?? connectors.error} />
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            Start {PHASES.find((p) => p.phase === phase)!.label.toLowerCase()}
          </button>
        </div>
      </form>
      {started && (
        <div className="panel">
          <h2>Task</h2>
          <TaskWatch
            key={started.taskId}
            taskId={started.taskId}
            onClosed={(task) => setStarted((s) => s && { ...s, task })}
          />
          {started.task?.state === 'completed' && <TaskResult result={started.task.result} />}
        </div>
      )}
    </section>
  );
}

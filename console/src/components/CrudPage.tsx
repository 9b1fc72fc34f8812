import { useState, type FormEvent, type ReactNode } from 'react';
import { api, query } from '../api';
import { useAction, useDebounced, useLoad } from '../hooks';
import { useSession } from '../session';
import type { Page } from '../types';
import { Dialog } from './Dialog';
import { Pager } from './Pager';
import { ProblemView } from './Problem';
import { Empty, Field, NameFilter, PageHeader } from './bits';

export interface FormField {
  /** Body path; `settings.url` nests. */
  name: string;
  label: string;
  kind?: 'text' | 'number' | 'password' | 'list' | 'select' | 'checkbox' | 'textarea';
  options?: string[];
  required?: boolean;
  hint?: string;
}

export interface Column<T> {
  label: string;
  render(item: T): ReactNode;
  numeric?: boolean;
}

/** A select above the list whose value goes to the list route as the query parameter `name`. */
export interface ListFilter {
  name: string;
  label: string;
  /** [value, label]; the first is usually ['', 'All']. */
  options: [string, string][];
}

export interface CrudConfig<T> {
  title: string;
  /** The list route; creating POSTs to it and deleting sends DELETE <path>/<id>. */
  path: string;
  noun: string;
  columns: Column<T>[];
  /** The search box that filters by name (the list route's `name`). */
  nameFilter?: boolean;
  filters?: ListFilter[];
  /** Buttons in the header beside (or instead of) "New <noun>". */
  headerActions?: ReactNode;
  /** Shown between the header and the list (a task being followed). */
  above?: ReactNode;
  /** What an empty list says. */
  empty?: string;
  fields?: FormField[];
  /** The permission to create and delete. */
  writePermission?: string;
  /** Extra buttons on each row. */
  rowActions?(item: T, reload: () => void): ReactNode;
  /** A line under the title. */
  intro?: ReactNode;
  /** What a create answered, worth showing once (an API token's secret). */
  afterCreate?(created: unknown): ReactNode;
  canDelete?(item: T): boolean;
}

const PAGE_SIZE = 50;

function setPath(body: Record<string, unknown>, path: string, value: unknown): void {
  const [head, ...rest] = path.split('.');
  if (rest.length === 0) body[head] = value;
  else setPath((body[head] ??= {}) as Record<string, unknown>, rest.join('.'), value);
}

/** The body a create sends: lists split on commas and new lines, numbers as numbers, empty fields left out. */
function bodyOf(fields: FormField[], values: Record<string, string | boolean>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const field of fields) {
    const value = values[field.name];
    if (value === undefined || value === '') continue;
    if (field.kind === 'number') setPath(body, field.name, Number(value));
    else if (field.kind === 'list')
      setPath(
        body,
        field.name,
        String(value)
          .split(/[\n,]/)
          .map((v) => v.trim())
          .filter(Boolean),
      );
    else setPath(body, field.name, value);
  }
  return body;
}

/**
 * A paged list of one resource, filtered by name and the config's selects, with a create form and delete
 * buttons: every list page of the console is one (layers, templates, images and the settings pages).
 */
export function CrudPage<T extends { id: string }>({ config }: { config: CrudConfig<T> }) {
  const { can } = useSession();
  const [page, setPage] = useState(1);
  const [name, setName] = useState('');
  const [selected, setSelected] = useState<Record<string, string>>({});
  const nameQuery = useDebounced(name);
  const listQuery = query({ ...selected, name: nameQuery, page, pageSize: PAGE_SIZE });
  const list = useLoad(() => api.get<Page<T>>(`${config.path}${listQuery}`), `${config.path}${listQuery}`);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<unknown>();
  const action = useAction();
  const mayWrite = config.writePermission ? can(config.writePermission) : true;
  const mayDelete = mayWrite && config.fields !== undefined;
  /** A new filter shows its first page. */
  const filtered = (change: () => void) => {
    change();
    setPage(1);
  };

  const remove = async (item: T) => {
    if (!window.confirm(`Delete this ${config.noun}?`)) return;
    await action.run(() => api.delete(`${config.path}/${item.id}`));
    list.reload();
  };

  return (
    <section>
      <PageHeader title={config.title}>
        {config.headerActions}
        {mayWrite && config.fields && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New {config.noun}
          </button>
        )}
      </PageHeader>
      {config.intro && <p className="muted">{config.intro}</p>}
      {(config.nameFilter || config.filters) && (
        <div className="filters" role="search">
          {config.filters?.map((f) => (
            <label key={f.name}>
              {f.label}{' '}
              <select
                value={selected[f.name] ?? ''}
                onChange={(e) => filtered(() => setSelected((s) => ({ ...s, [f.name]: e.target.value })))}
              >
                {f.options.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
          ))}
          {config.nameFilter && <NameFilter value={name} onChange={(v) => filtered(() => setName(v))} />}
        </div>
      )}
      {created !== undefined && config.afterCreate?.(created)}
      {config.above}
      <ProblemView error={list.error ?? action.error} />
      {list.data?.items.length === 0 && <Empty>{config.empty ?? 'Nothing here yet.'}</Empty>}
      {list.data && list.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              {config.columns.map((c) => (
                <th key={c.label} scope="col" className={c.numeric ? 'num' : undefined}>
                  {c.label}
                </th>
              ))}
              {(mayDelete || config.rowActions) && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((item) => (
              <tr key={item.id}>
                {config.columns.map((c) => (
                  <td key={c.label} className={c.numeric ? 'num' : undefined}>
                    {c.render(item)}
                  </td>
                ))}
                {(mayDelete || config.rowActions) && (
                  <td className="row-actions">
                    {config.rowActions?.(item, list.reload)}
                    {mayDelete && (config.canDelete?.(item) ?? true) && (
                      <button type="button" className="small danger" onClick={() => void remove(item)}>
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
      {list.data && <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={setPage} />}
      {creating && config.fields && (
        <CreateDialog
          config={config}
          onClose={() => setCreating(false)}
          onCreated={(answer) => {
            setCreating(false);
            setCreated(answer);
            list.reload();
          }}
        />
      )}
    </section>
  );
}

function CreateDialog<T>({
  config,
  onClose,
  onCreated,
}: {
  config: CrudConfig<T>;
  onClose(): void;
  onCreated(answer: unknown): void;
}) {
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const { run, error, busy } = useAction();
  const fields = config.fields!;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const answer = await run(() => api.post<unknown>(config.path, bodyOf(fields, values)));
    if (answer !== undefined) onCreated(answer);
  };
  const set = (name: string, value: string | boolean) => setValues((v) => ({ ...v, [name]: value }));
  return (
    <Dialog title={`New ${config.noun}`} onClose={onClose}>
      <form onSubmit={submit}>
        {fields.map((f) => {
          const value = values[f.name];
          if (f.kind === 'checkbox')
            return (
              <label key={f.name} className="check">
                <input
                  type="checkbox"
                  checked={value === true}
                  onChange={(e) => set(f.name, e.target.checked)}
                />
                {f.label}
              </label>
            );
          return (
            <Field
              key={f.name}
              label={f.label}
              hint={f.hint ?? (f.kind === 'list' ? 'One a line or comma-separated' : undefined)}
            >
              {f.kind === 'select' ? (
                <select
                  name={f.name}
                  required={f.required}
                  value={String(value ?? '')}
                  onChange={(e) => set(f.name, e.target.value)}
                >
                  <option value="">Choose…</option>
                  {f.options?.map((o) => (
                    <option key={o}>{o}</option>
                  ))}
                </select>
              ) : f.kind === 'list' || f.kind === 'textarea' ? (
                <textarea
                  name={f.name}
                  required={f.required}
                  rows={3}
                  value={String(value ?? '')}
                  onChange={(e) => set(f.name, e.target.value)}
                />
              ) : (
                <input
                  name={f.name}
                  type={f.kind ?? 'text'}
                  autoComplete={f.kind === 'password' ? 'new-password' : 'off'}
                  required={f.required}
                  value={String(value ?? '')}
                  onChange={(e) => set(f.name, e.target.value)}
                />
              )}
            </Field>
          );
        })}
        <ProblemView error={error} />
        <div className="form-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}

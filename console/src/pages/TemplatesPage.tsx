import { useState } from 'react';
import { api, query } from '../api';
import { Pager } from '../components/Pager';
import { ProblemView } from '../components/Problem';
import { TaskWatch } from '../components/TaskWatch';
import { Empty, NameFilter, PageHeader, formatTime } from '../components/bits';
import { useAction, useDebounced, useLoad } from '../hooks';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import type { Page, Task, Template } from '../types';

const PAGE_SIZE = 50;

/** Image templates: open one in the wizard, clone, publish (watching the task), delete. */
export function TemplatesPage() {
  const { can } = useSession();
  const [name, setName] = useState('');
  const [page, setPage] = useState(1);
  const filter = useDebounced(name);
  const list = useLoad(
    () => api.get<Page<Template>>(`/api/templates${query({ name: filter, page, pageSize: PAGE_SIZE })}`),
    `${filter}|${page}`,
  );
  const [publishing, setPublishing] = useState<{ template: string; taskId: string; imageId?: string }>();
  const action = useAction();

  const publish = async (t: Template) => {
    const task = await action.run(() => api.post<Task>(`/api/templates/${t.id}/publish`, {}));
    if (task) setPublishing({ template: t.name, taskId: task.id });
  };
  const clone = async (t: Template) => {
    const cloneName = window.prompt(`Name of the copy of ${t.name}`, `${t.name} copy`);
    if (!cloneName) return;
    const copy = await action.run(() =>
      api.post<Template>(`/api/templates/${t.id}/clone`, { name: cloneName }),
    );
    if (copy) list.reload();
  };
  const remove = async (t: Template) => {
    if (!window.confirm(`Delete the template ${t.name}? Published images keep their snapshot.`)) return;
    await action.run(() => api.delete(`/api/templates/${t.id}`));
    list.reload();
  };

  return (
    <section>
      <PageHeader title="Image templates">
        {can('templates.write') && (
          <button type="button" className="primary" onClick={() => navigate('/templates/new')}>
            New template
          </button>
        )}
      </PageHeader>
      <div className="filters" role="search">
        <NameFilter
          value={name}
          onChange={(value) => {
            setName(value);
            setPage(1);
          }}
        />
      </div>
      <ProblemView error={list.error ?? action.error} />
      {publishing && (
        <div className="panel">
          <h2>Publishing {publishing.template}</h2>
          <TaskWatch
            taskId={publishing.taskId}
            onClosed={(task) => {
              const imageId = (task.result as { imageId?: string } | undefined)?.imageId;
              if (imageId) setPublishing((p) => p && { ...p, imageId });
            }}
          />
          {publishing.imageId && (
            <p>
              <Link href={`/images/${publishing.imageId}`}>Open the image and its conflict report</Link>
            </p>
          )}
        </div>
      )}
      {list.data?.items.length === 0 && <Empty>No templates yet.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Disk</th>
              <th scope="col">Apps</th>
              <th scope="col">Changed</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((t) => (
              <tr key={t.id}>
                <td>
                  <Link href={`/templates/${t.id}`}>{t.name}</Link>
                  {t.description && <div className="muted small">{t.description}</div>}
                </td>
                <td>
                  {t.diskSizeGb} GB {t.diskFormat}, {t.firmware}
                </td>
                <td>{t.appVersionIds.length}</td>
                <td>{formatTime(t.updatedAt)}</td>
                <td className="row-actions">
                  {can('images.publish') && (
                    <button type="button" className="small primary" onClick={() => void publish(t)}>
                      Publish
                    </button>
                  )}
                  {can('templates.write') && (
                    <>
                      <button type="button" className="small" onClick={() => void clone(t)}>
                        Clone
                      </button>
                      <button type="button" className="small danger" onClick={() => void remove(t)}>
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
      {list.data && <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={setPage} />}
    </section>
  );
}

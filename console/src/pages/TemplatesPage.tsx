import { useState } from 'react';
import { api } from '../api';
import { CrudPage } from '../components/CrudPage';
import { ProblemView } from '../components/Problem';
import { TaskWatch } from '../components/TaskWatch';
import { formatTime } from '../components/bits';
import { useAction } from '../hooks';
import { Link, navigate } from '../router';
import { useSession } from '../session';
import type { Task, Template } from '../types';

/** Image templates: open one in the wizard, clone, publish (watching the task), delete. */
export function TemplatesPage() {
  const { can } = useSession();
  const [publishing, setPublishing] = useState<{ template: string; taskId: string; imageId?: string }>();
  const action = useAction();

  const publish = async (t: Template) => {
    const task = await action.run(() => api.post<Task>(`/api/templates/${t.id}/publish`, {}));
    if (task) setPublishing({ template: t.name, taskId: task.id });
  };
  const clone = async (t: Template, reload: () => void) => {
    const cloneName = window.prompt(`Name of the copy of ${t.name}`, `${t.name} copy`);
    if (!cloneName) return;
    const copy = await action.run(() =>
      api.post<Template>(`/api/templates/${t.id}/clone`, { name: cloneName }),
    );
    if (copy) reload();
  };
  const remove = async (t: Template, reload: () => void) => {
    if (!window.confirm(`Delete the template ${t.name}? Published images keep their snapshot.`)) return;
    await action.run(() => api.delete(`/api/templates/${t.id}`));
    reload();
  };

  return (
    <CrudPage<Template>
      config={{
        title: 'Image templates',
        path: '/api/templates',
        noun: 'template',
        nameFilter: true,
        empty: 'No templates yet.',
        headerActions: can('templates.write') && (
          <button type="button" className="primary" onClick={() => navigate('/templates/new')}>
            New template
          </button>
        ),
        above: (
          <>
            <ProblemView error={action.error} />
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
          </>
        ),
        columns: [
          {
            label: 'Name',
            render: (t) => (
              <>
                <Link href={`/templates/${t.id}`}>{t.name}</Link>
                {t.description && <div className="muted small">{t.description}</div>}
              </>
            ),
          },
          { label: 'Disk', render: (t) => `${t.diskSizeGb} GB ${t.diskFormat}, ${t.firmware}` },
          { label: 'Apps', render: (t) => t.appVersionIds.length },
          { label: 'Changed', render: (t) => formatTime(t.updatedAt) },
        ],
        rowActions: (t, reload) => (
          <>
            {can('images.publish') && (
              <button type="button" className="small primary" onClick={() => void publish(t)}>
                Publish
              </button>
            )}
            {can('templates.write') && (
              <>
                <button type="button" className="small" onClick={() => void clone(t, reload)}>
                  Clone
                </button>
                <button type="button" className="small danger" onClick={() => void remove(t, reload)}>
                  Delete
                </button>
              </>
            )}
          </>
        ),
      }}
    />
  );
}

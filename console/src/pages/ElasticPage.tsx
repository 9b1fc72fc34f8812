import { useState } from 'react';
import { api } from '../api';
import { CrudPage } from '../components/CrudPage';
import { TaskWatch } from '../components/TaskWatch';
import { useSession } from '../session';
import type { Task } from '../types';

interface Assignment {
  id: string;
  layerVersionId: string;
  users: string[];
  groups: string[];
  machinePatterns: string[];
}

interface Share {
  id: string;
  name: string;
  sharePath: string;
  mountPoint: string;
}

function SyncButton({ share }: { share: Share }) {
  const [taskId, setTaskId] = useState<string>();
  const sync = async () =>
    setTaskId((await api.post<Task>(`/api/system-settings/elastic-shares/${share.id}/sync`)).id);
  return (
    <span className="inline-test">
      <button type="button" className="small" onClick={() => void sync()}>
        Sync
      </button>
      {taskId && <TaskWatch taskId={taskId} />}
    </span>
  );
}

/** Elastic layers: app layer versions assigned to users, groups and machines, and the shares they are delivered from. */
export function ElasticPage() {
  const { can } = useSession();
  return (
    <>
      <CrudPage<Assignment>
        config={{
          title: 'Elastic assignments',
          path: '/api/elastic-assignments',
          noun: 'elastic assignment',
          writePermission: 'elastic.write',
          columns: [
            { label: 'Layer version', render: (a) => <code className="hash">{a.layerVersionId}</code> },
            { label: 'Users', render: (a) => a.users.join(', ') || '—' },
            { label: 'Groups', render: (a) => a.groups.join(', ') || '—' },
            { label: 'Machines', render: (a) => a.machinePatterns.join(', ') || '—' },
          ],
          fields: [
            { name: 'layerVersionId', label: 'App layer version id', required: true },
            { name: 'users', label: 'Users', kind: 'list', hint: 'user@domain or DOMAIN\\user' },
            { name: 'groups', label: 'Groups', kind: 'list' },
            { name: 'machinePatterns', label: 'Machine patterns', kind: 'list', hint: 'e.g. VDI-SALES-*' },
          ],
        }}
      />
      <CrudPage<Share>
        config={{
          title: 'Elastic layer shares',
          path: '/api/system-settings/elastic-shares',
          noun: 'elastic layer share',
          writePermission: 'storage.write',
          columns: [
            { label: 'Name', render: (s) => s.name },
            { label: 'Share', render: (s) => <code className="path">{s.sharePath}</code> },
            { label: 'Mounted at', render: (s) => <code className="path">{s.mountPoint}</code> },
          ],
          rowActions: (s) => can('elastic.write') && <SyncButton share={s} />,
          fields: [
            { name: 'name', label: 'Name', required: true },
            { name: 'sharePath', label: 'Share', required: true, hint: '\\\\server\\share' },
            { name: 'mountPoint', label: 'Mount point on the appliance', required: true },
            { name: 'user', label: 'User' },
            { name: 'password', label: 'Password', kind: 'password' },
          ],
        }}
      />
    </>
  );
}

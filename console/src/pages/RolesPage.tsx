import { CrudPage } from '../components/CrudPage';
import { useLoad } from '../hooks';
import { api } from '../api';

interface RoleAssignment {
  id: string;
  role: string;
  principalType: 'user' | 'group';
  principal: string;
  createdAt: string;
}

/** Which directory users and groups hold which roles; only a role you hold can be granted. */
export function RolesPage() {
  const roles = useLoad(
    () => api.get<{ role: string; permissions: string[] }[]>('/api/role-assignments/roles'),
    'roles',
  );
  return (
    <CrudPage<RoleAssignment>
      config={{
        title: 'Role assignments',
        path: '/api/role-assignments',
        noun: 'role assignment',
        writePermission: 'roles.write',
        columns: [
          { label: 'Role', render: (r) => r.role },
          { label: 'Kind', render: (r) => r.principalType },
          { label: 'User or group', render: (r) => <code className="path">{r.principal}</code> },
        ],
        fields: [
          {
            name: 'role',
            label: 'Role',
            kind: 'select',
            options: roles.data?.map((r) => r.role) ?? [],
            required: true,
          },
          {
            name: 'principalType',
            label: 'Kind',
            kind: 'select',
            options: ['user', 'group'],
            required: true,
          },
          {
            name: 'principal',
            label: 'Distinguished name',
            required: true,
            hint: 'CN=Helpdesk,OU=Groups,DC=example,DC=com',
          },
        ],
      }}
    />
  );
}

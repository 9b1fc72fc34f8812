import { useState } from 'react';
import { api } from '../api';
import { CrudPage } from '../components/CrudPage';
import { Badge } from '../components/bits';
import { useSession } from '../session';

interface Junction {
  id: string;
  name: string;
  priority: number;
  settings: { url: string; baseDn: string; domain: string; netbiosName: string; schema: string };
  bindPasswordSet: boolean;
}

interface TestResult {
  ok: boolean;
  checks: { field: string; ok: boolean; message: string }[];
}

/** The Test button of a junction, with what each check found. */
function TestButton({ junction }: { junction: Junction }) {
  const [result, setResult] = useState<TestResult | string>();
  const test = async () => {
    setResult('Testing…');
    try {
      setResult(await api.post<TestResult>(`/api/directory-junctions/${junction.id}/test`));
    } catch (err) {
      setResult((err as Error).message);
    }
  };
  return (
    <span className="inline-test">
      <button type="button" className="small" onClick={() => void test()}>
        Test
      </button>
      {typeof result === 'string' && <span role="status">{result}</span>}
      {typeof result === 'object' && (
        <ul className="checks" role="status" aria-label={`Test of ${junction.name}`}>
          {result.checks.map((c) => (
            <li key={c.field + c.message}>
              <Badge value={c.ok ? 'ok' : 'failed'} /> <code>{c.field}</code> {c.message}
            </li>
          ))}
        </ul>
      )}
    </span>
  );
}

/** Directory junctions: the AD or LDAP directories users sign in from. */
export function DirectoryPage() {
  const { can } = useSession();
  return (
    <CrudPage<Junction>
      config={{
        title: 'Directory junctions',
        path: '/api/directory-junctions',
        noun: 'directory junction',
        writePermission: 'directory.write',
        columns: [
          { label: 'Name', render: (j) => j.name },
          { label: 'Directory', render: (j) => <code className="path">{j.settings.url}</code> },
          { label: 'Domain', render: (j) => `${j.settings.domain} (${j.settings.netbiosName})` },
          { label: 'Base DN', render: (j) => <code className="path">{j.settings.baseDn}</code> },
          { label: 'Priority', render: (j) => j.priority, numeric: true },
        ],
        rowActions: (j) => can('directory.write') && <TestButton junction={j} />,
        fields: [
          { name: 'name', label: 'Name', required: true },
          { name: 'settings.url', label: 'URL', required: true, hint: 'ldaps://dc.example.com or ldap://…' },
          { name: 'settings.startTls', label: 'StartTLS', kind: 'checkbox' },
          { name: 'settings.caCertificate', label: 'CA certificate (PEM)', kind: 'textarea' },
          { name: 'settings.bindDn', label: 'Service account DN', required: true },
          { name: 'bindPassword', label: 'Service account password', kind: 'password', required: true },
          { name: 'settings.baseDn', label: 'Base DN', required: true },
          { name: 'settings.domain', label: 'Domain', required: true, hint: 'example.com' },
          { name: 'settings.netbiosName', label: 'NetBIOS name', required: true, hint: 'EXAMPLE' },
          {
            name: 'settings.schema',
            label: 'Schema',
            kind: 'select',
            options: ['ad', 'ldap'],
            required: true,
          },
          {
            name: 'priority',
            label: 'Priority',
            kind: 'number',
            hint: 'Lower is tried first for short names',
          },
        ],
      }}
    />
  );
}

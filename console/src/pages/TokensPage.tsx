import { CrudPage } from '../components/CrudPage';
import { formatTime } from '../components/bits';

interface ApiToken {
  id: string;
  name: string;
  owner: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** API tokens for scripts and the CLI; the secret is shown once, when it is made. */
export function TokensPage() {
  return (
    <CrudPage<ApiToken>
      config={{
        title: 'API tokens',
        path: '/api/tokens',
        noun: 'API token',
        intro: 'Scripts and the lamina command line send a token as Authorization: Bearer <token>.',
        columns: [
          { label: 'Name', render: (t) => t.name },
          { label: 'Owner', render: (t) => t.owner },
          { label: 'Expires', render: (t) => formatTime(t.expiresAt) },
          { label: 'Last used', render: (t) => formatTime(t.lastUsedAt) },
          { label: 'Revoked', render: (t) => formatTime(t.revokedAt) },
        ],
        canDelete: (t) => t.revokedAt === null,
        fields: [
          { name: 'name', label: 'Name', required: true },
          { name: 'expiresInDays', label: 'Days valid', kind: 'number', hint: '30 unless given, at most 90' },
        ],
        afterCreate: (created) => (
          <div className="panel" role="status">
            <strong>Copy the token now; it is not shown again:</strong>
            <pre className="secret">{(created as { token: string }).token}</pre>
          </div>
        ),
      }}
    />
  );
}

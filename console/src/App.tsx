import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, onSignedOut } from './api';
import { Link, matchPath, navigate, usePath } from './router';
import { SessionContext, type Session } from './session';
import type { Me } from './types';
import { SignInPage } from './pages/SignInPage';
import { LayersPage } from './pages/LayersPage';
import { LayerPage } from './pages/LayerPage';
import { TemplatesPage } from './pages/TemplatesPage';
import { TemplateWizard } from './pages/TemplateWizard';
import { ImagesPage } from './pages/ImagesPage';
import { ImagePage } from './pages/ImagePage';
import { ConnectorsPage } from './pages/ConnectorsPage';
import { TasksPage } from './pages/TasksPage';
import { ElasticPage } from './pages/ElasticPage';
import { StoragePage } from './pages/StoragePage';
import { DirectoryPage } from './pages/DirectoryPage';
import { RolesPage } from './pages/RolesPage';
import { TokensPage } from './pages/TokensPage';
import { AuditPage } from './pages/AuditPage';
import { PortabilityPage } from './pages/PortabilityPage';
import { LayerTransferPage } from './pages/LayerTransferPage';

interface NavItem {
  href: string;
  label: string;
  /** Shown when the user holds any of these. */
  permissions: string[];
}

/** The sections, each shown only to a user whose roles allow reading it (or, for task pages, starting one). */
const NAV: NavItem[] = [
  { href: '/layers', label: 'Layers', permissions: ['read'] },
  { href: '/templates', label: 'Templates', permissions: ['read'] },
  { href: '/images', label: 'Published images', permissions: ['read'] },
  { href: '/connectors', label: 'Connectors', permissions: ['read'] },
  { href: '/tasks', label: 'Tasks', permissions: ['read'] },
  { href: '/portability', label: 'Image Portability', permissions: ['images.port'] },
  { href: '/layer-transfer', label: 'Layer transfer', permissions: ['layers.export', 'layers.import'] },
  { href: '/elastic', label: 'Elastic layers', permissions: ['read'] },
  { href: '/storage', label: 'User layer storage', permissions: ['read'] },
  { href: '/directory', label: 'Directory junctions', permissions: ['read'] },
  { href: '/roles', label: 'Roles', permissions: ['read'] },
  { href: '/tokens', label: 'API tokens', permissions: ['signed-in'] },
  { href: '/audit', label: 'Audit log', permissions: ['audit.read'] },
];

const ROUTES: { pattern: string; render(params: Record<string, string>): ReactNode }[] = [
  { pattern: '/layers', render: () => <LayersPage /> },
  { pattern: '/layers/:id', render: (p) => <LayerPage id={p.id} /> },
  { pattern: '/templates', render: () => <TemplatesPage /> },
  { pattern: '/templates/new', render: () => <TemplateWizard /> },
  { pattern: '/templates/:id', render: (p) => <TemplateWizard id={p.id} /> },
  { pattern: '/images', render: () => <ImagesPage /> },
  { pattern: '/images/:id', render: (p) => <ImagePage id={p.id} /> },
  { pattern: '/connectors', render: () => <ConnectorsPage /> },
  { pattern: '/tasks', render: () => <TasksPage /> },
  { pattern: '/portability', render: () => <PortabilityPage /> },
  { pattern: '/layer-transfer', render: () => <LayerTransferPage /> },
  { pattern: '/elastic', render: () => <ElasticPage /> },
  { pattern: '/storage', render: () => <StoragePage /> },
  { pattern: '/directory', render: () => <DirectoryPage /> },
  { pattern: '/roles', render: () => <RolesPage /> },
  { pattern: '/tokens', render: () => <TokensPage /> },
  { pattern: '/audit', render: () => <AuditPage /> },
];

function Page({ path }: { path: string }) {
  for (const route of ROUTES) {
    const params = matchPath(route.pattern, path);
    if (params) return <>{route.render(params)}</>;
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        The console has no page at <code>{path}</code>. <Link href="/layers">Go to the layers.</Link>
      </p>
    </section>
  );
}

export function App() {
  const path = usePath();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [temporalWorkflowsUrl, setTemporalWorkflowsUrl] = useState<string | null>(null);

  const loadSession = useCallback(async () => {
    try {
      const who = await api.get<Me>('/api/auth/me');
      const settings = await api.get<{ temporalWorkflowsUrl: string | null }>('/api/console/settings');
      setTemporalWorkflowsUrl(settings.temporalWorkflowsUrl);
      setMe(who);
    } catch {
      setMe(null);
    }
  }, []);

  useEffect(() => {
    void loadSession();
    return onSignedOut(() => setMe(null));
  }, [loadSession]);

  const session = useMemo<Session | undefined>(
    () =>
      me
        ? {
            me,
            temporalWorkflowsUrl,
            can: (permission) => permission === 'signed-in' || me.permissions.includes(permission),
            signOut: async () => {
              await api.post('/api/auth/logout').catch(() => undefined);
              setMe(null);
              navigate('/');
            },
          }
        : undefined,
    [me, temporalWorkflowsUrl],
  );

  useEffect(() => {
    if (session && (path === '/' || path === '/sign-in'))
      navigate(session.can('read') ? '/layers' : '/tokens');
  }, [session, path]);

  useEffect(() => {
    const section = NAV.find((n) => path.startsWith(n.href))?.label;
    document.title = session ? `${section ?? 'Console'} · Lamina` : 'Sign in · Lamina';
  }, [path, session]);

  if (me === undefined) return <p className="loading">Loading…</p>;
  if (!session) return <SignInPage onSignedIn={loadSession} />;

  return (
    <SessionContext.Provider value={session}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <div className="shell">
        <header className="topbar">
          <span className="brand">
            <span className="brand-mark" aria-hidden="true" />
            Lamina
          </span>
          <span className="who">
            {session.me.name}
            <span className="roles">{session.me.roles.join(', ') || 'no role'}</span>
          </span>
          <button type="button" onClick={() => void session.signOut()}>
            Sign out
          </button>
        </header>
        <nav className="sidebar" aria-label="Sections">
          <ul>
            {NAV.filter((n) => n.permissions.some(session.can)).map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={path.startsWith(n.href) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          <Page path={path} />
        </main>
      </div>
    </SessionContext.Provider>
  );
}

/**
 * The app: session gate (login page until logged in), then the shell — top bar with the live-update
 * state and the user, a side navigation showing only what the user may open, and the routed page.
 *
 * Routes: /login, / (dashboard), /disks, /disks/:id, /paths, /nodes, /users, /tokens, /events, /audit, /settings.
 */
import { type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { type ApiErrorBody, type ClusterConfigView, getConfig } from './api';
import { AuditPage } from './AuditPage';
import { EventsPage } from './EventsPage';
import { DashboardPage } from './DashboardPage';
import { DiskDetailPage } from './DiskDetailPage';
import { DiskListPage } from './DiskListPage';
import { LoginPage } from './LoginPage';
import { NodesPage } from './NodesPage';
import { NotifyProvider } from './notify';
import { PageHead } from './PageHead';
import { PathsPage } from './PathsPage';
import { Link, matchPath, navigate, useLocation, withQuery } from './router';
import { SessionProvider, useMe, usePermissions, useSession } from './session';
import { SettingsPage } from './SettingsPage';
import { TokensPage } from './TokensPage';
import { type LiveMode, useLiveDisks } from './useLiveDisks';
import { UsersPage } from './UsersPage';

const MODE_TEXT: Record<LiveMode, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Refreshing every 2 s',
};

export function App() {
  return (
    <SessionProvider>
      <NotifyProvider>
        <Root />
      </NotifyProvider>
    </SessionProvider>
  );
}

/** Only same-site paths: never an open redirect to another origin. */
function safeNext(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

function Root() {
  const { state, refresh } = useSession();
  const loc = useLocation();

  useEffect(() => {
    if (state.status === 'anonymous' && loc.path !== '/login') {
      navigate(withQuery('/login', { next: loc.href === '/' ? undefined : loc.href }), { replace: true });
    } else if (state.status === 'ready' && loc.path === '/login') {
      navigate(safeNext(loc.search.get('next')), { replace: true });
    }
  }, [state.status, loc.path, loc.href, loc.search]);

  if (state.status === 'loading') {
    return (
      <p className="splash" role="status">
        Loading Portway…
      </p>
    );
  }
  if (state.status === 'error') {
    return (
      <main className="login" id="main">
        <div className="login-card">
          <h1 className="login-title">Portway is unavailable</h1>
          <p className="alert alert-error" role="alert" data-testid="startup-error">
            {state.error.message}
          </p>
          <button type="button" className="button button-primary" onClick={refresh}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (state.status === 'anonymous') {
    return <LoginPage reason={state.reason} onLoggedIn={() => navigate(safeNext(loc.search.get('next')), { replace: true })} />;
  }
  if (loc.path === '/login') return null; // redirecting
  return <Shell />;
}

interface NavItem {
  to: string;
  label: string;
  show: boolean;
}

function Shell() {
  const me = useMe();
  const { logout } = useSession();
  const { can, canReadAudit } = usePermissions();
  const live = useLiveDisks();
  const loc = useLocation();
  const [config, setConfig] = useState<ClusterConfigView | undefined>(undefined);
  const [configError, setConfigError] = useState<ApiErrorBody | undefined>(undefined);

  const loadConfig = useCallback(() => {
    void getConfig().then((r) => {
      if (r.ok) {
        setConfig(r.value);
        setConfigError(undefined);
      } else setConfigError(r.error);
    });
  }, []);
  useEffect(loadConfig, [loadConfig]);

  // After an in-app navigation, move focus to the new page's heading (screen readers announce it).
  const first = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs on every path change
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>('#main h1')?.focus();
    window.scrollTo(0, 0);
  }, [loc.path]);

  const nav: NavItem[] = [
    { to: '/', label: 'Dashboard', show: true },
    { to: '/disks', label: 'Disks', show: true },
    { to: '/paths', label: 'Paths', show: true },
    { to: '/nodes', label: 'Nodes', show: true },
    { to: '/users', label: 'Users and roles', show: can('ManageUsers') },
    { to: '/tokens', label: 'API tokens', show: true },
    { to: '/events', label: 'Events', show: true },
    { to: '/audit', label: 'Audit log', show: canReadAudit },
    { to: '/settings', label: 'Settings', show: true },
  ];
  const active = (to: string): boolean => (to === '/' ? loc.path === '/' : loc.path === to || loc.path.startsWith(`${to}/`));

  let page: ReactNode;
  const diskMatch = matchPath('/disks/:id', loc.path);
  if (loc.path === '/') page = <DashboardPage live={live} />;
  else if (loc.path === '/disks') page = <DiskListPage live={live} config={config} configError={configError} reloadConfig={loadConfig} />;
  else if (diskMatch?.id) page = <DiskDetailPage key={diskMatch.id} id={diskMatch.id} live={live} />;
  else if (loc.path === '/paths') page = <PathsPage live={live} />;
  else if (loc.path === '/nodes') page = <NodesPage live={live} />;
  else if (loc.path === '/users') page = <UsersPage />;
  else if (loc.path === '/tokens') page = <TokensPage />;
  else if (loc.path === '/audit') page = <AuditPage />;
  else if (loc.path === '/events') page = <EventsPage />;
  else if (loc.path === '/settings') page = <SettingsPage config={config} configError={configError} reloadConfig={loadConfig} />;
  else
    page = (
      <>
        <PageHead title="Page not found" />
        <p className="alert alert-warning" data-testid="not-found">
          There is no page <span className="mono">{loc.path}</span>. <Link to="/">Go to the dashboard</Link>
        </p>
      </>
    );

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="Portway dashboard">
          <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
            <rect width="32" height="32" rx="7" />
            <path d="M9 9h14v4H9zM9 15h14v4H9zM9 21h14v3H9z" />
          </svg>
          <span className="brand-name">Portway</span>
          <span className="brand-sub">iSCSI SAN manager</span>
        </Link>
        <div className="topbar-right">
          {config ? (
            <span className="topbar-meta mono" title={config.backend?.images.kind === 'rbd' ? 'IQN base · Ceph pool' : 'IQN base'}>
              {config.iqnBase}
              {config.backend?.images.kind === 'rbd' ? ` · ${config.pool}` : ''}
            </span>
          ) : null}
          <span className={`live live-${live.mode}`} data-testid="live-mode" data-mode={live.mode}>
            <span className="live-dot" aria-hidden="true" />
            {MODE_TEXT[live.mode]}
          </span>
          <span className="user" data-testid="current-user">
            <span className="user-name">{me.user.name}</span>
            <span className="user-role">{me.via === 'auth_disabled' ? 'logins off' : me.user.role}</span>
          </span>
          {me.via === 'session' ? (
            <button type="button" className="button button-small button-ghost" onClick={() => void logout()} data-testid="logout">
              Log out
            </button>
          ) : null}
        </div>
      </header>
      <div className="layout">
        <nav className="sidenav" aria-label="Main">
          <ul>
            {nav
              .filter((n) => n.show)
              .map((n) => (
                <li key={n.to}>
                  <Link
                    to={n.to}
                    className="nav-link"
                    aria-current={active(n.to) ? 'page' : undefined}
                    data-testid={`nav-${n.to === '/' ? 'dashboard' : n.to.slice(1)}`}
                  >
                    {n.label}
                  </Link>
                </li>
              ))}
          </ul>
        </nav>
        <main className="page" id="main" tabIndex={-1}>
          {page}
        </main>
      </div>
    </div>
  );
}

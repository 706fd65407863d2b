import type { ReactNode } from 'react';
import { NavLink } from 'react-router';
import { useSession } from '../auth/session.js';
import { useOverallConnection } from '../live/use-live-list.js';
import { ConnectionBadge } from './ConnectionBadge.js';
import { useNavigationLog } from '../logging/use-action-logger.js';
import { LoggedButton } from '../logging/LoggedButton.js';

const NAV = [
  { to: '/', label: 'Dashboard', end: true },
  { to: '/vms', label: 'Virtual machines' },
  { to: '/nodes', label: 'Nodes' },
  { to: '/images', label: 'Images' },
  { to: '/pools', label: 'Storage pools' },
  { to: '/networks', label: 'Networks' },
  { to: '/events', label: 'Events' },
  { to: '/logs', label: 'Logs' },
];

export function Layout({ children }: { children: ReactNode }) {
  const { canWrite, signOut } = useSession();
  const connection = useOverallConnection();
  useNavigationLog();
  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Main">
        <div className="brand">
          <span className="logo">◆</span> Quantix
        </div>
        {NAV.map((n) => (
          <NavLink key={n.to} to={n.to} end={n.end} className={({ isActive }) => (isActive ? 'nav active' : 'nav')}>
            {n.label}
          </NavLink>
        ))}
      </nav>
      <div className="main">
        <header className="topbar">
          <ConnectionBadge />
          <span className="spacer" />
          <span
            className={`badge role ${canWrite ? 'role-admin' : 'role-viewer'}`}
            data-testid="role"
            title={canWrite ? 'This token may change objects.' : 'This token may only read: write actions are hidden.'}
          >
            {canWrite ? 'admin' : 'viewer · read-only'}
          </span>
          <LoggedButton logAction="sign-out" logCategory="auth" type="button" className="link" onClick={signOut} data-testid="signout">
            Sign out
          </LoggedButton>
        </header>
        <main className="content">
          {connection === 'error' && (
            <div className="error-banner" role="alert" data-testid="auth-banner">
              The API server refuses this token for some views (401/403); the affected pages say which. If the token was revoked,{' '}
              <LoggedButton logAction="sign-out" logCategory="auth" type="button" className="link" onClick={signOut}>
                sign in again
              </LoggedButton>
              .
            </div>
          )}
          {children}
        </main>
      </div>
    </div>
  );
}

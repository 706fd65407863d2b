/**
 * The signed-in session: token, API client, the shared ConnectionManager and what the token
 * may do. Everything below <SessionProvider> reads it with useSession().
 */
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { ApiClient } from '../api/client.js';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import { ConnectionManager } from '../live/connection-manager.js';
import { clearToken, loadToken, saveToken } from './token-store.js';
import { verifyToken } from './verify.js';
import { uiLogger } from '../logging/ui-logger.js';

export interface Session {
  client: ApiClient;
  manager: ConnectionManager;
  canWrite: boolean;
  signOut(): void;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside <SessionGate>');
  return session;
}

type GateState = { kind: 'checking' } | { kind: 'signedOut'; error?: string } | { kind: 'signedIn'; session: Session };

export interface SignInProps {
  error?: string;
  busy: boolean;
  onSignIn(token: string): void;
}

/** Renders `signIn` until a token is verified, then `children` with the session. */
export function SessionGate({ children, signIn: SignIn }: { children: ReactNode; signIn: (props: SignInProps) => ReactNode }) {
  const [state, setState] = useState<GateState>(() => (loadToken() ? { kind: 'checking' } : { kind: 'signedOut' }));
  const [busy, setBusy] = useState(false);

  const signOut = useCallback(() => {
    // Hand what is buffered to the server while the token is still known.
    uiLogger.log({ category: 'auth', action: 'sign-out', result: 'success' });
    uiLogger.flushAll();
    uiLogger.setToken(undefined);
    clearToken();
    setState((s) => {
      if (s.kind === 'signedIn') s.session.manager.stopAll();
      return { kind: 'signedOut' };
    });
  }, []);

  const attempt = useCallback(
    async (token: string) => {
      const client = new ApiClient(token);
      setBusy(true);
      try {
        const access = await verifyToken(client);
        saveToken(token);
        uiLogger.setToken(token);
        uiLogger.log({ category: 'auth', action: 'sign-in', result: 'success', message: access.canWrite ? 'admin' : 'viewer' });
        const manager = new ConnectionManager(client);
        setState({ kind: 'signedIn', session: { client, manager, canWrite: access.canWrite, signOut } });
      } catch (err) {
        clearToken();
        // Kept in the buffer: sent once a token is accepted.
        uiLogger.log({ category: 'auth', action: 'sign-in', result: 'error', message: asApiError(err).describe() });
        setState({ kind: 'signedOut', error: asApiError(err).describe() });
      } finally {
        setBusy(false);
      }
    },
    [signOut],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: only on first mount (a reload); later sign-ins go through the form
  useEffect(() => {
    const token = loadToken();
    if (token && state.kind === 'checking') void attempt(token);
  }, []);

  // Reconnect at once when the network or the tab comes back, instead of waiting out a backoff.
  const manager = state.kind === 'signedIn' ? state.session.manager : undefined;
  useEffect(() => {
    if (!manager) return;
    const kick = () => manager.kick();
    const onVisible = () => document.visibilityState === 'visible' && kick();
    window.addEventListener('online', kick);
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      window.removeEventListener('online', kick);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [manager]);

  if (state.kind === 'checking') return <div className="center-note">Signing in…</div>;
  if (state.kind === 'signedOut') return <SignIn error={state.error} busy={busy} onSignIn={(t) => void attempt(t)} />;
  return <SessionContext.Provider value={state.session}>{children}</SessionContext.Provider>;
}

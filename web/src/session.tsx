/**
 * Who is logged in: GET /api/v1/auth/me at start, login, logout, and what the user may do.
 * A 401 on any call ends the session here (the app shows the login page with the reason);
 * a 403 `forbidden` or `csrf_failed` re-reads /auth/me (role changed, or a newer login elsewhere).
 */
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { type ApiErrorBody, getMe, login as apiLogin, logout as apiLogout, type Me, onAuthEvent, type Permission, setCsrfToken } from './api';

export type SessionState =
  | { status: 'loading' }
  | { status: 'anonymous'; reason?: string }
  | { status: 'error'; error: ApiErrorBody }
  | { status: 'ready'; me: Me };

export interface Session {
  state: SessionState;
  /** Logs in; the error body on failure. */
  login(username: string, password: string): Promise<ApiErrorBody | undefined>;
  logout(): Promise<void>;
  /** Re-reads /auth/me. */
  refresh(): void;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });

  const accept = useCallback((me: Me) => {
    setCsrfToken(me.csrfToken);
    // Same answer as before: keep the object, so nothing that depends on it runs again.
    setState((prev) => (prev.status === 'ready' && JSON.stringify(prev.me) === JSON.stringify(me) ? prev : { status: 'ready', me }));
  }, []);

  const refresh = useCallback(() => {
    void getMe().then((r) => {
      if (r.ok) accept(r.value);
      else if (r.error.status === 401) {
        setCsrfToken(undefined);
        setState((prev) => ({ status: 'anonymous', reason: prev.status === 'ready' ? r.error.message : undefined }));
      } else setState((prev) => (prev.status === 'ready' ? prev : { status: 'error', error: r.error }));
    });
  }, [accept]);

  useEffect(refresh, [refresh]);

  useEffect(
    () =>
      onAuthEvent(({ kind, error }) => {
        if (kind === 'unauthenticated') {
          setCsrfToken(undefined);
          setState((prev) => (prev.status === 'ready' ? { status: 'anonymous', reason: error.message } : prev));
        } else refresh();
      }),
    [refresh],
  );

  const login = useCallback(
    async (username: string, password: string) => {
      const r = await apiLogin(username, password);
      if (!r.ok) return r.error;
      accept(r.value);
      return undefined;
    },
    [accept],
  );

  const logout = useCallback(async () => {
    await apiLogout();
    setCsrfToken(undefined);
    setState({ status: 'anonymous', reason: 'You have logged out.' });
  }, []);

  const value = useMemo(() => ({ state, login, logout, refresh }), [state, login, logout, refresh]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

/** The logged-in user; only inside the logged-in part of the app. */
export function useMe(): Me {
  const { state } = useSession();
  if (state.status !== 'ready') throw new Error('useMe without a login');
  return state.me;
}

/** What the logged-in user may do. */
export function usePermissions(): { can: (p: Permission) => boolean; canReadAudit: boolean } {
  const me = useMe();
  return useMemo(() => {
    const held = new Set(me.user.permissions);
    return {
      can: (p: Permission) => held.has(p),
      // The server lets anyone read the audit log who holds a permission beyond ViewOnly.
      canReadAudit: me.user.permissions.some((p) => p !== 'ViewOnly'),
    };
  }, [me]);
}

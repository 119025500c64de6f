/** The login page: user name and password; the server's message when it refuses. */
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import type { ApiErrorBody } from './api';
import { focusWhenRendered, TextField } from './Field';
import { useSession } from './session';

export function LoginPage({ reason, onLoggedIn }: { reason?: string; onLoggedIn: () => void }) {
  const { login } = useSession();
  const uid = useId();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const userRef = useRef<HTMLInputElement>(null);
  const errorRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    document.title = 'Log in · Portway';
    userRef.current?.focus();
  }, []);

  async function submit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    const err = await login(username.trim(), password);
    setBusy(false);
    if (err) {
      setError(err);
      setPassword('');
      focusWhenRendered(() => errorRef.current);
      return;
    }
    onLoggedIn();
  }

  return (
    <main className="login" id="main">
      <div className="login-card">
        <div className="login-brand">
          <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
            <rect width="32" height="32" rx="7" />
            <path d="M9 9h14v4H9zM9 15h14v4H9zM9 21h14v3H9z" />
          </svg>
          <span className="login-name">Portway</span>
        </div>
        <h1 className="login-title">Log in</h1>
        <p className="login-sub">iSCSI SAN manager</p>
        {reason && !error ? (
          <p className="alert alert-warning" data-testid="login-reason">
            {reason}
          </p>
        ) : null}
        {error ? (
          <div ref={errorRef} className="alert alert-error" role="alert" tabIndex={-1} data-testid="login-error">
            {error.message}
          </div>
        ) : null}
        <form className="form" onSubmit={(e) => void submit(e)} aria-busy={busy} data-testid="login-form">
          <TextField
            id={`${uid}-user`}
            label="User name"
            ref={userRef}
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            data-testid="login-username"
            value={username}
            onChange={setUsername}
          />
          <TextField
            id={`${uid}-password`}
            label="Password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            data-testid="login-password"
            value={password}
            onChange={setPassword}
          />
          <button type="submit" className="button button-primary button-block" disabled={busy} data-testid="login-submit">
            {busy ? <span className="spinner" aria-hidden="true" /> : null}
            Log in
          </button>
        </form>
      </div>
    </main>
  );
}

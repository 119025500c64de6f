/**
 * Cluster settings, read-only (the server has no API to change them yet), and the logged-in user's
 * own password.
 */
import { type FormEvent, useId, useState } from 'react';
import { type ApiErrorBody, type ClusterConfigView, changeOwnPassword, type SubnetView } from './api';
import { Field, FormError, focusError, LoadError, placeError, type ShownError } from './Field';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { useMe, usePermissions } from './session';

interface SettingsPageProps {
  config: ClusterConfigView | undefined;
  configError: ApiErrorBody | undefined;
  reloadConfig: () => void;
}

function cidr(s: SubnetView): string {
  return s.cidr ?? `${s.network}/${s.prefix}`;
}

export function SettingsPage({ config, configError, reloadConfig }: SettingsPageProps) {
  const me = useMe();
  const { can } = usePermissions();
  return (
    <>
      <PageHead title="Settings" sub={<span className="page-sub">The cluster's configuration and your account.</span>} />
      {configError ? <LoadError what="the cluster settings" error={configError} onRetry={reloadConfig} /> : null}

      <section className="card card-pad" aria-labelledby="cluster-h" data-testid="cluster-settings">
        <h2 id="cluster-h" className="card-title">
          Cluster
        </h2>
        <p className="muted read-only-note" data-testid="settings-readonly">
          Read-only: the server offers no API to change cluster settings yet
          {can('ManageConfig') ? '. They are set in the settings file of each node (portway serve --config).' : '.'}
        </p>
        {config === undefined ? (
          configError ? null : (
            <p className="muted" role="status">
              Loading…
            </p>
          )
        ) : (
          <>
            <dl className="props">
              <div>
                <dt>IQN base</dt>
                <dd className="mono" data-testid="setting-iqnBase">
                  {config.iqnBase}
                </dd>
              </div>
              <div>
                <dt>Pool</dt>
                <dd className="mono">{config.pool}</dd>
              </div>
            </dl>
            <div className="table-wrap table-bordered">
              <table className="table table-compact" data-testid="subnets-table">
                <caption className="sr-only">iSCSI subnets</caption>
                <thead>
                  <tr>
                    <th scope="col">iSCSI subnet</th>
                    <th scope="col">Network</th>
                    <th scope="col">Mask</th>
                    <th scope="col">Automatic IPs</th>
                    <th scope="col">Interface</th>
                  </tr>
                </thead>
                <tbody>
                  {([1, 2] as const).map((n) => {
                    const s = n === 1 ? config.subnet1 : config.subnet2;
                    return (
                      <tr key={n} data-testid={`subnet-row-${n}`}>
                        <td>Subnet {n}</td>
                        <td className="mono">{cidr(s)}</td>
                        <td className="mono">{s.mask}</td>
                        <td className="mono">
                          {s.autoIpFrom} – {s.autoIpTo}
                        </td>
                        <td className="mono">{s.eth}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>

      <section className="card card-pad" aria-labelledby="account-h">
        <h2 id="account-h" className="card-title">
          Your account
        </h2>
        <dl className="props">
          <div>
            <dt>User</dt>
            <dd data-testid="account-user">{me.user.name}</dd>
          </div>
          <div>
            <dt>Role</dt>
            <dd data-testid="account-role">{me.user.role}</dd>
          </div>
          <div className="props-wide">
            <dt>Permissions</dt>
            <dd>{me.user.permissions.join(', ')}</dd>
          </div>
        </dl>
        {me.via === 'session' ? <PasswordForm /> : <p className="muted">Logins are turned off on this server: there is no password to change.</p>}
      </section>
    </>
  );
}

function PasswordForm() {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f}`;
  const notify = useNotify();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError | undefined>(undefined);

  async function submit(e: FormEvent<HTMLFormElement>): Promise<void> {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    const r = await changeOwnPassword(current, next);
    setBusy(false);
    if (r.ok) {
      setCurrent('');
      setNext('');
      notify('Password changed. Your other sessions were logged out.');
      return;
    }
    const shown = placeError(r.error, ['currentPassword', 'newPassword'], { password: 'newPassword' });
    setError(shown);
    focusError(shown, id, id('form-error'));
  }
  const errorFor = (f: string): string | undefined => (error?.field === f ? error.message : undefined);

  return (
    <form className="form form-narrow" onSubmit={(e) => void submit(e)} noValidate aria-busy={busy}>
      <h3 className="form-title">Change your password</h3>
      <FormError id={id('form-error')} error={error} />
      <Field id={id('currentPassword')} label="Current password" error={errorFor('currentPassword')}>
        {(c) => <input {...c} className="input" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />}
      </Field>
      <Field id={id('newPassword')} label="New password" error={errorFor('newPassword')} hint="At least 10 characters.">
        {(c) => <input {...c} className="input" type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />}
      </Field>
      <div>
        <button type="submit" className="button" disabled={busy || current === '' || next === ''}>
          {busy ? <span className="spinner spinner-dark" aria-hidden="true" /> : null}
          Change password
        </button>
      </div>
    </form>
  );
}

/**
 * Cluster settings, read-only (the server has no API to change them yet), and the logged-in user's
 * own password.
 */
import { useId, useState } from 'react';
import { type ApiErrorBody, type ClusterConfigView, changeOwnPassword, type SubnetView } from './api';
import { Table } from './CardTable';
import { FormError, focusError, LoadError, placeError, TextField, useFormSubmit } from './Field';
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
            <Table
              caption="iSCSI subnets"
              rows={[
                { n: 1, s: config.subnet1 },
                { n: 2, s: config.subnet2 },
              ]}
              testId="subnets-table"
              className="table-compact"
              wrapClassName="table-bordered"
              rowKey={(r) => r.n}
              rowTestId={(r) => `subnet-row-${r.n}`}
              columns={[
                { head: 'iSCSI subnet', cell: (r) => `Subnet ${r.n}` },
                { head: 'Network', className: 'mono', cell: (r) => cidr(r.s) },
                { head: 'Mask', className: 'mono', cell: (r) => r.s.mask },
                {
                  head: 'Automatic IPs',
                  className: 'mono',
                  cell: (r) => (
                    <>
                      {r.s.autoIpFrom} – {r.s.autoIpTo}
                    </>
                  ),
                },
                { head: 'Interface', className: 'mono', cell: (r) => r.s.eth },
              ]}
            />
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
  const { busy, error, errorFor, onSubmit } = useFormSubmit(() => changeOwnPassword(current, next), {
    onDone: () => {
      setCurrent('');
      setNext('');
      notify('Password changed. Your other sessions were logged out.');
    },
    place: (err) => placeError(err, ['currentPassword', 'newPassword'], { password: 'newPassword' }),
    focus: (shown) => focusError(shown, id, id('form-error')),
  });

  return (
    <form className="form form-narrow" onSubmit={onSubmit} noValidate aria-busy={busy}>
      <h3 className="form-title">Change your password</h3>
      <FormError id={id('form-error')} error={error} />
      <TextField
        id={id('currentPassword')}
        label="Current password"
        error={errorFor('currentPassword')}
        type="password"
        autoComplete="current-password"
        value={current}
        onChange={setCurrent}
      />
      <TextField
        id={id('newPassword')}
        label="New password"
        error={errorFor('newPassword')}
        hint="At least 10 characters."
        type="password"
        autoComplete="new-password"
        value={next}
        onChange={setNext}
      />
      <div>
        <button type="submit" className="button" disabled={busy || current === '' || next === ''}>
          {busy ? <span className="spinner spinner-dark" aria-hidden="true" /> : null}
          Change password
        </button>
      </div>
    </form>
  );
}

/**
 * Settings: the cluster settings (one copy in the coordination store, versioned), editable by users
 * with ManageConfig and read-only for the others; the backends this server runs on (image store,
 * coordination store), the nodes and the settings version each works with; the user's own password.
 */
import { useEffect, useId, useState } from 'react';
import { type ApiErrorBody, type ClusterConfigView, changeOwnPassword, type SubnetView, updateClusterSettings } from './api';
import { Table } from './CardTable';
import { FormError, focusError, LoadError, placeError, TextField, useFormSubmit } from './Field';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { useMe, usePermissions } from './session';
import { useNodes } from './useNodes';

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
  const [editing, setEditing] = useState(false);
  const rbd = config?.backend?.images.kind === 'rbd';
  return (
    <>
      <PageHead title="Settings" sub={<span className="page-sub">The cluster's configuration, its backends and nodes, and your account.</span>} />
      {configError ? <LoadError what="the cluster settings" error={configError} onRetry={reloadConfig} /> : null}

      <section className="card card-pad" aria-labelledby="cluster-h" data-testid="cluster-settings">
        <h2 id="cluster-h" className="card-title">
          Cluster
        </h2>
        {config === undefined ? (
          configError ? null : (
            <p className="muted" role="status">
              Loading…
            </p>
          )
        ) : editing ? (
          <ClusterSettingsForm
            config={config}
            onDone={() => {
              setEditing(false);
              reloadConfig();
            }}
            onCancel={() => setEditing(false)}
          />
        ) : (
          <>
            <p className="muted" data-testid={can('ManageConfig') ? 'settings-editable' : 'settings-readonly'}>
              One copy for the whole cluster, in the coordination store
              {config.version !== undefined ? (
                <>
                  {' '}
                  (version <span data-testid="settings-version">{config.version}</span>
                  {config.changedBy ? `, last changed by ${config.changedBy}` : ''})
                </>
              ) : null}
              . {can('ManageConfig') ? 'Every node picks a change up without a restart.' : 'Read-only: changing them needs the ManageConfig permission.'}
            </p>
            <dl className="props">
              <div>
                <dt>IQN base</dt>
                <dd className="mono" data-testid="setting-iqnBase">
                  {config.iqnBase}
                </dd>
              </div>
              {rbd ? (
                <div>
                  <dt>Pool</dt>
                  <dd className="mono" data-testid="setting-pool">
                    {config.pool}
                  </dd>
                </div>
              ) : null}
              {config.leaseTtlSeconds !== undefined ? (
                <div>
                  <dt>Node lease</dt>
                  <dd data-testid="setting-lease">{config.leaseTtlSeconds} s</dd>
                </div>
              ) : null}
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
                { head: 'Interface (this server)', className: 'mono', cell: (r) => r.s.eth },
              ]}
            />
            {can('ManageConfig') && config.version !== undefined ? (
              <div>
                <button type="button" className="button" data-testid="settings-edit" onClick={() => setEditing(true)}>
                  Change cluster settings
                </button>
              </div>
            ) : null}
          </>
        )}
      </section>

      {config?.backend ? <BackendCard backend={config.backend} /> : null}
      <NodesCard version={config?.version} />

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

function BackendCard({ backend }: { backend: NonNullable<ClusterConfigView['backend']> }) {
  return (
    <section className="card card-pad" aria-labelledby="backend-h" data-testid="backend">
      <h2 id="backend-h" className="card-title">
        Backends
      </h2>
      <dl className="props">
        <div>
          <dt>Disk images</dt>
          <dd data-testid="backend-images">{backend.images.kind === 'rbd' ? `Ceph RBD, pool ${backend.images.pool ?? ''}` : 'Sparse files on this server'}</dd>
        </div>
        <div>
          <dt>Coordination store</dt>
          <dd data-testid="backend-coord">
            {backend.coord.kind === 'etcd' ? `etcd (${(backend.coord.endpoints ?? []).join(', ')})` : 'Embedded (this server only)'}
          </dd>
        </div>
      </dl>
    </section>
  );
}

function NodesCard({ version }: { version: number | undefined }) {
  const { nodes, error, reload } = useNodes();
  return (
    <section className="card card-pad" aria-labelledby="nodes-h" data-testid="settings-nodes">
      <h2 id="nodes-h" className="card-title">
        Nodes
      </h2>
      {error ? <LoadError what="the nodes" error={error} onRetry={reload} /> : null}
      {nodes === undefined ? null : nodes.length === 0 ? (
        <p className="muted">No node serves paths yet.</p>
      ) : (
        <Table
          caption="Nodes and the settings version they work with"
          rows={nodes}
          testId="settings-nodes-table"
          className="table-compact"
          wrapClassName="table-bordered"
          rowKey={(n) => n.name}
          rowTestId={(n) => `settings-node-${n.name}`}
          columns={[
            { head: 'Node', className: 'mono', cell: (n) => n.name },
            { head: 'State', cell: (n) => (n.up ? (n.drained ? 'up, drained' : 'up') : 'down') },
            { head: 'Paths', cell: (n) => n.pathCount },
            {
              head: 'Settings version',
              cell: (n) =>
                n.settingsVersion === undefined ? '—' : n.settingsVersion === version ? `${n.settingsVersion}` : `${n.settingsVersion} (not the latest yet)`,
            },
          ]}
        />
      )}
    </section>
  );
}

const FORM_FIELDS = [
  'iqnBase',
  'pool',
  'leaseTtlSeconds',
  'subnet1.cidr',
  'subnet1.autoIpFrom',
  'subnet1.autoIpTo',
  'subnet2.cidr',
  'subnet2.autoIpFrom',
  'subnet2.autoIpTo',
] as const;
type FormField = (typeof FORM_FIELDS)[number];

function ClusterSettingsForm({ config, onDone, onCancel }: { config: ClusterConfigView; onDone: () => void; onCancel: () => void }) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f.replace('.', '-')}`;
  const notify = useNotify();
  const rbd = config.backend?.images.kind === 'rbd';
  const initial: Record<FormField, string> = {
    iqnBase: config.iqnBase,
    pool: config.pool,
    leaseTtlSeconds: String(config.leaseTtlSeconds ?? ''),
    'subnet1.cidr': cidr(config.subnet1),
    'subnet1.autoIpFrom': config.subnet1.autoIpFrom,
    'subnet1.autoIpTo': config.subnet1.autoIpTo,
    'subnet2.cidr': cidr(config.subnet2),
    'subnet2.autoIpFrom': config.subnet2.autoIpFrom,
    'subnet2.autoIpTo': config.subnet2.autoIpTo,
  };
  const [v, setV] = useState(initial);
  const set = (f: FormField) => (x: string) => setV((old) => ({ ...old, [f]: x }));
  const sub = (n: 'subnet1' | 'subnet2') => ({ cidr: v[`${n}.cidr`], autoIpFrom: v[`${n}.autoIpFrom`], autoIpTo: v[`${n}.autoIpTo`] });
  const ttl = /^\d+$/.test(v.leaseTtlSeconds.trim()) ? Number(v.leaseTtlSeconds.trim()) : Number.NaN;
  const { busy, error, errorFor, onSubmit } = useFormSubmit(
    () =>
      updateClusterSettings({
        ...(config.version !== undefined ? { version: config.version } : {}),
        iqnBase: v.iqnBase,
        ...(rbd ? { pool: v.pool } : {}),
        subnet1: sub('subnet1'),
        subnet2: sub('subnet2'),
        // A non-number goes as sent: the server names the field.
        leaseTtlSeconds: Number.isNaN(ttl) ? -1 : ttl,
      }),
    {
      onDone: (r) => {
        notify(r.changes.length === 0 ? 'Nothing changed.' : `Cluster settings saved (version ${r.version}): ${r.changes.map((c) => c.field).join(', ')}.`);
        onDone();
      },
      place: (err) => placeError(err, [...FORM_FIELDS], { subnet1: 'subnet1.cidr', subnet2: 'subnet2.cidr' }),
      focus: (shown) => focusError(shown, id, id('form-error')),
    },
  );
  const firstId = id('iqnBase');
  useEffect(() => {
    // Focus the first field once, when the form opens.
    document.getElementById(firstId)?.focus();
  }, [firstId]);
  const field = (f: FormField, label: string, hint?: string) => (
    <TextField id={id(f)} label={label} error={errorFor(f)} hint={hint} value={v[f]} onChange={set(f)} data-testid={`edit-${f}`} className="mono" />
  );
  return (
    <form className="form" onSubmit={onSubmit} noValidate aria-busy={busy} data-testid="cluster-settings-form">
      <FormError id={id('form-error')} error={error} />
      {field('iqnBase', 'IQN base', 'iqn.YYYY-MM.reversed.domain; new disks are named under it')}
      {rbd ? field('pool', 'Ceph pool', 'cannot change while disks exist') : null}
      {field(
        'leaseTtlSeconds',
        'Node lease (seconds)',
        '2 to 300: how long a silent node keeps its paths; applies live (each agent moves to a lease of the new length, no restart)',
      )}
      {(['subnet1', 'subnet2'] as const).map((n) => (
        <fieldset key={n} className="fieldset">
          <legend>iSCSI subnet {n.slice(-1)}</legend>
          {field(`${n}.cidr`, 'Network (CIDR)', 'a change must keep every served IP inside it')}
          {field(`${n}.autoIpFrom`, 'Automatic IPs from')}
          {field(`${n}.autoIpTo`, 'Automatic IPs to')}
        </fieldset>
      ))}
      <div className="form-actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" disabled={busy} data-testid="settings-save">
          {busy ? <span className="spinner" aria-hidden="true" /> : null}
          Save
        </button>
      </div>
    </form>
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

/** One disk: its settings, live status, its paths (with moves) and the actions the user may take. */
import { ConnectedHosts } from './ConnectedHosts';
import { actionLabel, useDiskActions } from './DiskActions';
import { DiskIoCharts } from './IoCharts';
import { formatDate, formatNumber } from './format';
import { PageHead } from './PageHead';
import { PathsTable } from './PathsTable';
import { SnapshotsPanel } from './SnapshotsPanel';
import { qosSummary } from './QosFields';
import { Link, navigate } from './router';
import { StatusBadge } from './StatusBadge';
import type { LiveDisks } from './useLiveDisks';

const SUBNET_TEXT = { 1: 'Subnet 1', 2: 'Subnet 2', 3: 'Both subnets' } as const;

export function DiskDetailPage({ id, live }: { id: string; live: LiveDisks }) {
  const { disks, error } = live;
  const actions = useDiskActions(disks, { onGone: () => navigate('/disks') });
  const disk = disks?.find((d) => d.id === id);
  const back = <Link to="/disks">‹ Disks</Link>;

  if (disks === undefined) {
    return (
      <>
        <PageHead title={`Disk ${id}`} back={back} />
        {error ? (
          <p className="alert alert-error" role="alert">
            Cannot load the disk list: {error.message}
          </p>
        ) : (
          <p className="muted" role="status">
            Loading…
          </p>
        )}
      </>
    );
  }
  if (!disk) {
    return (
      <>
        <PageHead title={`Disk ${id}`} back={back} />
        <p className="alert alert-warning" data-testid="disk-missing">
          There is no disk {id}: it may have been deleted or detached. <Link to="/disks">Back to the disk list</Link>
        </p>
        {actions.dialogs}
      </>
    );
  }

  const allowed = actions.allowed(disk);
  return (
    <>
      <PageHead
        back={back}
        docTitle={`Disk ${disk.id} ${disk.name}`}
        title={
          <>
            {disk.name} <span className="page-title-id mono">{disk.id}</span>
          </>
        }
        sub={
          <span className="page-sub">
            <span data-testid="detail-status" data-status={disk.status}>
              <StatusBadge status={disk.status} />
            </span>
            <span>
              {disk.pathsServed} of {disk.pathCount} paths served
            </span>
          </span>
        }
        actions={
          allowed.length > 0 ? (
            <div className="button-row">
              {allowed.map((a) => (
                <button
                  key={a}
                  type="button"
                  className={a === 'delete' ? 'button button-danger-outline' : 'button'}
                  onClick={() => actions.open(a, disk)}
                  data-testid={`detail-${a}`}
                >
                  {actionLabel(a)}
                </button>
              ))}
            </div>
          ) : null
        }
      />

      <section className="card card-pad" aria-labelledby="disk-settings-h">
        <h2 id="disk-settings-h" className="card-title">
          Settings
        </h2>
        <dl className="props" data-testid="disk-props">
          <div>
            <dt>Name</dt>
            <dd data-testid="prop-name">{disk.name}</dd>
          </div>
          <div>
            <dt>Size</dt>
            <dd data-testid="prop-size">{formatNumber(disk.sizeGb)} GiB</dd>
          </div>
          <div>
            <dt>IQN</dt>
            <dd className="mono">{disk.iqn}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <time dateTime={disk.createdAt}>{formatDate(disk.createdAt)}</time>
            </dd>
          </div>
          <div>
            <dt>iSCSI subnet</dt>
            <dd>{SUBNET_TEXT[disk.subnet] ?? disk.subnet}</dd>
          </div>
          <div>
            <dt>Placement</dt>
            <dd data-testid="prop-placement">
              {disk.placement === 'shared'
                ? 'Shared: every path on one node (reservations across all paths)'
                : 'Spread: paths over several nodes (reservations per node only)'}
            </dd>
          </div>
          <div>
            <dt>Access (ACL)</dt>
            <dd data-testid="prop-acl">{disk.acl ? <span className="mono">{disk.acl}</span> : 'All initiators'}</dd>
          </div>
          <div>
            <dt>Authentication</dt>
            <dd data-testid="prop-auth">
              {disk.chapUser ? (
                <>
                  CHAP, user {disk.chapUser}
                  {disk.targetChapUser ? <>; mutual, target user {disk.targetChapUser}</> : null}
                </>
              ) : (
                'None'
              )}
            </dd>
          </div>
          <div>
            <dt>Limits (QoS)</dt>
            <dd data-testid="prop-qos">{qosSummary(disk.qos)}</dd>
          </div>
        </dl>
      </section>

      <section className="card card-pad" aria-labelledby="disk-paths-h">
        <h2 id="disk-paths-h" className="card-title">
          Paths
        </h2>
        <PathsTable disk={disk} />
      </section>

      <section className="card card-pad" aria-labelledby="disk-hosts-h">
        <h2 id="disk-hosts-h" className="card-title">
          Connected hosts
        </h2>
        <ConnectedHosts id={disk.id} />
      </section>

      <section className="card card-pad" aria-labelledby="disk-io-h">
        <h2 id="disk-io-h" className="card-title">
          I/O
        </h2>
        <DiskIoCharts id={disk.id} />
      </section>

      <section className="card card-pad" aria-labelledby="disk-snapshots-h" data-testid="snapshots-section">
        <h2 id="disk-snapshots-h" className="card-title">
          Snapshots
        </h2>
        <SnapshotsPanel disk={disk} />
      </section>

      {actions.dialogs}
    </>
  );
}

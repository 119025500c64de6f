/**
 * A disk's snapshots: the list (time, size, clones, a copy's progress), take one, roll back, delete.
 * Rolling back needs the disk stopped: the dialog says so and offers to stop it. Where snapshots are
 * full copies (file images without reflink), taking one needs the disk stopped too, and says so.
 */
import { useCallback, useEffect, useId, useState } from 'react';
import { AddDiskForm } from './AddDiskForm';
import { Modal } from './Modal';
import { Link, navigate } from './router';
import {
  type ApiErrorBody,
  type ClusterConfigView,
  cloneSnapshot,
  flattenDisk,
  getConfig,
  type DiskView,
  type SnapshotList,
  type SnapshotView,
  createSnapshot,
  deleteSnapshot,
  listSnapshots,
  rollbackSnapshot,
  stopDisk,
} from './api';
import { Table } from './CardTable';
import { ConfirmDialog } from './ConfirmDialog';
import { FieldError } from './Field';
import { formatBytes, formatDate, GIB } from './format';
import { useNotify } from './notify';
import { usePermissions } from './session';
import { SnapshotSchedule } from './SnapshotSchedule';

const REFRESH_MS = 5000;
const COPY_REFRESH_MS = 1000;

function bytes(n: number | undefined): string {
  return n === undefined ? '—' : formatBytes(n);
}

type Dialog = { kind: 'rollback' | 'delete' | 'clone'; snap: SnapshotView } | undefined;

/** A new disk from a snapshot: the add-disk form (size fixed: the snapshot's) and the flatten choice. */
function CloneDialog({ disk, snap, instant, onClose }: { disk: DiskView; snap: SnapshotView; instant: boolean; onClose: () => void }) {
  const notify = useNotify();
  const [config, setConfig] = useState<ClusterConfigView | undefined>(undefined);
  const [configError, setConfigError] = useState<ApiErrorBody | undefined>(undefined);
  const [flatten, setFlatten] = useState(false);
  const flattenId = useId();
  useEffect(() => {
    void getConfig().then((r) => (r.ok ? setConfig(r.value) : setConfigError(r.error)));
  }, []);
  return (
    <Modal
      title={`Clone ${disk.id}@${snap.name} into a new disk`}
      description="The new disk gets its own id, IQN and IPs, and the snapshot's data and size."
      onClose={onClose}
      testId="clone-dialog"
      wide
    >
      {instant ? (
        <p>
          <input id={flattenId} type="checkbox" checked={flatten} onChange={(e) => setFlatten(e.target.checked)} data-testid="clone-flatten" />{' '}
          <label htmlFor={flattenId}>Flatten in the background (copy the data out of the snapshot, so the snapshot can be deleted later)</label>
        </p>
      ) : (
        <p className="muted">On this storage a clone is a full copy: it never depends on the snapshot.</p>
      )}
      <AddDiskForm
        config={config}
        configError={configError}
        fixedSizeGb={Math.max(1, Math.ceil(snap.sizeBytes / GIB))}
        submitLabel="Create clone"
        submit={(req) => cloneSnapshot(disk.id, snap.name, { ...req, flatten })}
        onCreated={(d) => {
          notify(`Disk ${d.id} "${d.name}" cloned from ${disk.id}@${snap.name}.`);
          onClose();
          navigate(`/disks/${d.id}`);
        }}
        onCancel={onClose}
      />
    </Modal>
  );
}

export function SnapshotsPanel({ disk }: { disk: DiskView }) {
  const { can } = usePermissions();
  const canManage = can('ManageSnapshots');
  const canClone = can('AddDisk');
  const [flattenError, setFlattenError] = useState<string | undefined>(undefined);
  const notify = useNotify();
  const nameId = useId();
  const [list, setList] = useState<SnapshotList | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [createError, setCreateError] = useState<string | undefined>(undefined);
  const [dialog, setDialog] = useState<Dialog>(undefined);
  const [tick, setTick] = useState(0);
  const { id, status } = disk;
  const stopped = status === 'stopped';
  const copying = busy || (list?.snapshots.some((s) => s.progressPct !== undefined) ?? false);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    const t = setInterval(reload, copying ? COPY_REFRESH_MS : REFRESH_MS);
    return () => clearInterval(t);
  }, [reload, copying]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: status and tick are refetch triggers
  useEffect(() => {
    let cancelled = false;
    void listSnapshots(id).then((r) => {
      if (cancelled) return;
      if (r.ok) {
        setList(r.value);
        setError(undefined);
      } else setError(r.error);
    });
    return () => {
      cancelled = true;
    };
  }, [id, status, tick]);

  const needsStop = list?.mode === 'copy' && !stopped;

  async function take(): Promise<void> {
    setBusy(true);
    setCreateError(undefined);
    const r = await createSnapshot(id, name.trim());
    setBusy(false);
    if (r.ok) {
      notify(`Snapshot ${r.value.name} of disk ${id} taken.`);
      setName('');
    } else setCreateError(r.error.message);
    reload();
  }

  async function stopNow(): Promise<ApiErrorBody | undefined> {
    const r = await stopDisk(id);
    if (!r.ok) return r.error;
    notify(`Disk ${id} is stopping.`);
    return undefined;
  }

  return (
    <>
      <SnapshotSchedule diskId={id} onRun={reload} />
      {error ? (
        <p className="alert alert-error" role="alert" data-testid="snapshots-error">
          Cannot load the snapshots: {error.message}
        </p>
      ) : null}
      {list === undefined && !error ? (
        <p className="muted" role="status">
          Loading snapshots…
        </p>
      ) : null}
      {list ? (
        <p className="muted" data-testid="snapshot-mode">
          {list.mode === 'instant'
            ? 'Snapshots are instant (copy-on-write) and can be taken while the disk is started.'
            : 'Snapshots here are full copies of the image (the storage has no instant copies): they are taken while the disk is stopped and take a while for a large disk.'}{' '}
          Rolling back needs the disk stopped.
        </p>
      ) : null}
      {list?.parent ? (
        <p className="alert alert-warning" data-testid="clone-parent">
          This disk is a clone of <Link to={`/disks/${list.parent.disk}`}>{list.parent.disk}</Link>@{list.parent.snapshot}: it shares data with that snapshot,
          which cannot be deleted until this disk is flattened.{' '}
          {list.parent.flattening ? (
            <span data-testid="clone-flattening">Flattening…</span>
          ) : canManage ? (
            <button
              type="button"
              className="button button-small"
              data-testid="clone-flatten-now"
              onClick={() =>
                void flattenDisk(id).then((r) => {
                  if (r.ok) {
                    notify(`Disk ${id} is being flattened.`);
                    setFlattenError(undefined);
                  } else setFlattenError(r.error.message);
                  reload();
                })
              }
            >
              Flatten now
            </button>
          ) : null}
          {flattenError ? <span className="field-error"> {flattenError}</span> : null}
        </p>
      ) : null}
      {list && list.snapshots.length === 0 ? <p className="muted">No snapshots yet.</p> : null}
      {list && list.snapshots.length > 0 ? (
        <Table
          caption={`Snapshots of disk ${id}`}
          rows={list.snapshots}
          testId="snapshots-table"
          className="table-compact"
          rowKey={(s) => s.name}
          rowTestId={(s) => `snapshot-row-${s.name}`}
          columns={[
            { head: 'Name', className: 'mono', cell: (s) => s.name },
            {
              head: 'Taken',
              cell: (s) =>
                s.progressPct !== undefined ? (
                  <span data-testid={`snapshot-progress-${s.name}`}>copying… {s.progressPct}%</span>
                ) : (
                  <time dateTime={s.createdAt}>{formatDate(s.createdAt)}</time>
                ),
            },
            { head: 'Size', className: 'num', headClassName: 'num', cell: (s) => bytes(s.sizeBytes) },
            { head: 'Used', className: 'num', headClassName: 'num', cell: (s) => bytes(s.usedBytes) },
            { head: 'Clones', cell: (s) => (s.clones.length ? s.clones.join(', ') : <span className="muted">none</span>) },
            {
              head: 'Actions',
              show: canManage || canClone,
              cell: (s) =>
                s.progressPct !== undefined ? null : (
                  <div className="button-row">
                    {canClone ? (
                      <button
                        type="button"
                        className="button button-small"
                        onClick={() => setDialog({ kind: 'clone', snap: s })}
                        data-testid={`snapshot-clone-${s.name}`}
                      >
                        Clone
                      </button>
                    ) : null}
                    {canManage ? (
                      <button
                        type="button"
                        className="button button-small"
                        onClick={() => setDialog({ kind: 'rollback', snap: s })}
                        data-testid={`snapshot-rollback-${s.name}`}
                      >
                        Roll back
                      </button>
                    ) : null}
                    {canManage ? (
                      <button
                        type="button"
                        className="button button-small button-danger-outline"
                        onClick={() => setDialog({ kind: 'delete', snap: s })}
                        data-testid={`snapshot-delete-${s.name}`}
                      >
                        Delete
                      </button>
                    ) : null}
                  </div>
                ),
            },
          ]}
        />
      ) : null}
      {canManage ? (
        <form
          className="inline-controls snapshot-create"
          onSubmit={(e) => {
            e.preventDefault();
            if (!busy && !needsStop) void take();
          }}
          noValidate
        >
          <label htmlFor={nameId}>New snapshot</label>
          <input
            id={nameId}
            className="input"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="before-upgrade"
            maxLength={64}
            autoComplete="off"
            spellCheck={false}
            aria-describedby={createError ? `${nameId}-err` : undefined}
            data-testid="snapshot-name"
          />
          <button type="submit" className="button" disabled={busy || needsStop || name.trim() === ''} data-testid="snapshot-create">
            {busy ? <span className="spinner spinner-dark" aria-hidden="true" /> : null}
            Take snapshot
          </button>
          {needsStop ? (
            <span className="muted" data-testid="snapshot-needs-stop">
              Stop the disk first: a full copy is only consistent while nothing writes to it.
            </span>
          ) : null}
          <FieldError id={`${nameId}-err`} error={createError} testId="snapshot-create-error" />
        </form>
      ) : null}

      {dialog?.kind === 'rollback' ? (
        stopped ? (
          <ConfirmDialog
            title={`Roll disk ${id} back to ${dialog.snap.name}?`}
            confirmLabel="Roll back"
            danger
            typeToConfirm={dialog.snap.name}
            testId="rollback-dialog"
            onClose={() => setDialog(undefined)}
            onConfirm={async () => {
              const r = await rollbackSnapshot(id, dialog.snap.name);
              if (!r.ok) return r.error;
              notify(`Disk ${id} rolled back to ${dialog.snap.name}. Start it to serve it again.`);
              setDialog(undefined);
              reload();
              return undefined;
            }}
          >
            <p>
              The disk's data becomes what it was when <strong className="mono">{dialog.snap.name}</strong> was taken ({formatDate(dialog.snap.createdAt)}).
              Everything written since is lost.
            </p>
          </ConfirmDialog>
        ) : (
          <ConfirmDialog
            title={`Roll disk ${id} back to ${dialog.snap.name}?`}
            confirmLabel={status === 'stopping' ? 'Stopping…' : 'Stop the disk'}
            testId="rollback-dialog"
            onClose={() => setDialog(undefined)}
            {...(status === 'stopping' ? { blockedReason: 'The disk is stopping; the rollback can start once it is stopped.' } : {})}
            onConfirm={stopNow}
          >
            <p data-testid="rollback-needs-stop">
              A disk is rolled back only while it is stopped: hosts using it lose it until it is started again. Stop disk {id} now? This dialog continues with
              the rollback once it is stopped.
            </p>
          </ConfirmDialog>
        )
      ) : null}
      {dialog?.kind === 'clone' ? <CloneDialog disk={disk} snap={dialog.snap} instant={list?.mode === 'instant'} onClose={() => setDialog(undefined)} /> : null}
      {dialog?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete snapshot ${dialog.snap.name}?`}
          confirmLabel="Delete snapshot"
          danger
          testId="snapshot-delete-dialog"
          onClose={() => setDialog(undefined)}
          {...(dialog.snap.clones.length ? { blockedReason: `Disks ${dialog.snap.clones.join(', ')} are cloned from it: flatten them first.` } : {})}
          onConfirm={async () => {
            const r = await deleteSnapshot(id, dialog.snap.name);
            if (!r.ok) return r.error;
            notify(`Snapshot ${dialog.snap.name} deleted.`);
            setDialog(undefined);
            reload();
            return undefined;
          }}
        >
          <p>The snapshot is removed; the disk itself does not change.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

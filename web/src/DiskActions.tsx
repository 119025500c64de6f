/**
 * The actions on one disk (edit, stop, start, detach, delete), each behind its dialog, offered only
 * when the user holds the permission. Used by the disk list (row menu) and the disk page (buttons).
 * The dialogs follow the live list, so "stop it first" turns into a usable button once it is stopped.
 */
import { type ReactNode, useCallback, useState } from 'react';
import { type ApiErrorBody, type ConnectedHost, type DiskView, deleteDisk, detachDisk, startDisk, stopDisk } from './api';
import { HostList } from './ConnectedHosts';
import { ConfirmDialog } from './ConfirmDialog';
import { EditDiskForm } from './EditDiskForm';
import { Modal } from './Modal';
import type { MenuItem } from './Menu';
import { useNotify } from './notify';
import { usePermissions } from './session';

export type DiskAction = 'edit' | 'stop' | 'start' | 'detach' | 'delete';

const LABEL: Record<DiskAction, string> = { edit: 'Edit', stop: 'Stop', start: 'Start', detach: 'Detach', delete: 'Delete' };

/** Which actions the user may take on this disk now. */
export function useAllowedActions(): (disk: DiskView) => DiskAction[] {
  const { can } = usePermissions();
  return useCallback(
    (d: DiskView) => {
      const out: DiskAction[] = [];
      if (can('EditDisk')) out.push('edit');
      if (can('StartStopDisk')) out.push(d.status === 'stopped' || d.status === 'stopping' ? 'start' : 'stop');
      if (can('DeleteDisk')) out.push('detach', 'delete');
      return out;
    },
    [can],
  );
}

export interface DiskActions {
  open: (action: DiskAction, disk: DiskView) => void;
  /** Menu entries for a row. */
  menuItems: (disk: DiskView) => MenuItem[];
  allowed: (disk: DiskView) => DiskAction[];
  /** The open dialog, if any: render it once. */
  dialogs: ReactNode;
}

export function actionLabel(a: DiskAction): string {
  return LABEL[a];
}

export function useDiskActions(disks: DiskView[] | undefined, opts: { onGone?: (id: string) => void } = {}): DiskActions {
  const notify = useNotify();
  const allowed = useAllowedActions();
  const [pending, setPending] = useState<{ action: DiskAction; disk: DiskView } | undefined>(undefined);
  /** The hosts the server said are connected when it refused the pending action: confirming again forces it. */
  const [connected, setConnected] = useState<ConnectedHost[] | undefined>(undefined);
  const open = useCallback((action: DiskAction, disk: DiskView) => {
    setConnected(undefined);
    setPending({ action, disk });
  }, []);
  const close = (): void => {
    setConnected(undefined);
    setPending(undefined);
  };

  const menuItems = useCallback(
    (d: DiskView): MenuItem[] =>
      allowed(d).map((a) => ({
        label: LABEL[a],
        danger: a === 'delete',
        testId: `action-${a}-${d.id}`,
        onSelect: () => open(a, d),
      })),
    [allowed, open],
  );

  let dialogs: ReactNode = null;
  if (pending) {
    // The live copy when the list still has the disk (status changes while the dialog is open).
    const d = disks?.find((x) => x.id === pending.disk.id) ?? pending.disk;
    const title = (verb: string): ReactNode => (
      <>
        {verb} disk <span className="mono">{d.id}</span>
      </>
    );
    const who = (
      <>
        <strong>{d.name}</strong> (<span className="mono">{d.id}</span>)
      </>
    );
    const run = async <T,>(call: Promise<{ ok: true; value: T } | { ok: false; error: ApiErrorBody }>, done: string, gone = false) => {
      const r = await call;
      if (!r.ok) {
        // Hosts are connected: show who, and let the user confirm again (then with force).
        const hosts = r.error.details.hosts;
        if (r.error.code === 'hosts_connected' && Array.isArray(hosts)) setConnected(hosts as ConnectedHost[]);
        return r.error;
      }
      close();
      notify(done);
      if (gone) opts.onGone?.(d.id);
      return undefined;
    };
    const force = connected !== undefined;
    const anyway = (label: string) => (force ? `${label} anyway` : label);
    const hostsNote = connected ? (
      <div className="alert alert-warning" data-testid="hosts-connected">
        <p>{connected.length === 1 ? 'This host is' : `These ${connected.length} sessions are`} connected now and will lose the disk:</p>
        <HostList hosts={connected} />
      </div>
    ) : null;
    const notStopped =
      d.status === 'stopped' ? undefined : (
        <>
          Disk {d.id} is {d.status}. Stop it and wait until it is stopped first.
        </>
      );

    switch (pending.action) {
      case 'edit':
        dialogs = (
          <Modal title={title('Edit')} description={d.iqn} onClose={close} testId="edit-disk-dialog" wide>
            <EditDiskForm
              disk={d}
              onCancel={close}
              onSaved={(saved) => {
                close();
                notify(`Disk ${saved.id} “${saved.name}” saved.`);
              }}
            />
          </Modal>
        );
        break;
      case 'stop':
        dialogs = (
          <ConfirmDialog
            title={title('Stop')}
            confirmLabel={anyway('Stop disk')}
            onClose={close}
            testId="stop-dialog"
            onConfirm={() => run(stopDisk(d.id, force), `Disk ${d.id} is stopping.`)}
          >
            {hostsNote}
            <p>
              Stop {who}? Its {d.pathCount} {d.pathCount === 1 ? 'path is' : 'paths are'} released and its iSCSI targets removed: initiators lose access until
              the disk is started again.
            </p>
          </ConfirmDialog>
        );
        break;
      case 'start':
        dialogs = (
          <ConfirmDialog
            title={title('Start')}
            confirmLabel="Start disk"
            onClose={close}
            testId="start-dialog"
            onConfirm={() => run(startDisk(d.id), `Disk ${d.id} is starting.`)}
          >
            <p>Start {who}? Its paths are served again by the cluster's nodes.</p>
          </ConfirmDialog>
        );
        break;
      case 'detach':
        dialogs = (
          <ConfirmDialog
            title={title('Detach')}
            confirmLabel={anyway('Detach disk')}
            onClose={close}
            testId="detach-dialog"
            blockedReason={notStopped}
            onConfirm={() => run(detachDisk(d.id, force), `Disk ${d.id} detached; its image is kept.`, true)}
          >
            {hostsNote}
            <p>
              Detach {who}? It leaves the SAN, but its image and metadata are kept: <strong>Attach image</strong> on the disk list makes it a disk again, with
              the same IP addresses if they are still free.
            </p>
          </ConfirmDialog>
        );
        break;
      case 'delete':
        dialogs = (
          <ConfirmDialog
            title={title('Delete')}
            confirmLabel={anyway('Delete disk')}
            danger
            onClose={close}
            testId="delete-dialog"
            blockedReason={notStopped}
            typeToConfirm={d.name}
            onConfirm={() => run(deleteDisk(d.id, force), `Disk ${d.id} “${d.name}” deleted.`, true)}
          >
            {hostsNote}
            <p>
              Delete {who} and its image? Every byte on the disk is lost. <strong>This cannot be undone.</strong>
            </p>
          </ConfirmDialog>
        );
        break;
    }
  }

  return { open, menuItems, allowed, dialogs };
}

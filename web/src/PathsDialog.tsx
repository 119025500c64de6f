/** The paths view of one disk, as a dialog over the disk list (the path count opens it). */
import type { DiskView } from './api';
import { Modal } from './Modal';
import { PathsTable } from './PathsTable';
import { Link } from './router';

interface PathsDialogProps {
  disk: DiskView;
  onClose: () => void;
}

export function PathsDialog({ disk, onClose }: PathsDialogProps) {
  return (
    <Modal
      title={
        <>
          Paths of disk <span className="mono">{disk.id}</span>
        </>
      }
      description={
        <>
          {disk.name} · {disk.pathsServed} of {disk.pathCount} served · <span className="mono">{disk.iqn}</span>
        </>
      }
      onClose={onClose}
      testId="paths-dialog"
      wide
      closeOnBackdrop
    >
      <PathsTable disk={disk} />
      <p className="modal-foot">
        <Link to={`/disks/${disk.id}`} onClick={onClose}>
          Open the disk's page
        </Link>
      </p>
    </Modal>
  );
}

/** The paths of one disk: IP, mask, interface, serving node and state. Refreshed as the disk changes. */
import { useEffect, useState } from 'react';
import { type ApiErrorBody, type DiskView, getDiskPaths, type PathView } from './api';
import { Modal } from './Modal';
import { StatusBadge } from './StatusBadge';

const PATHS_REFRESH_MS = 5000;

interface PathsDialogProps {
  disk: DiskView;
  onClose: () => void;
}

export function PathsDialog({ disk, onClose }: PathsDialogProps) {
  const [paths, setPaths] = useState<PathView[] | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);

  // Re-read the paths whenever the live list reports a change of this disk, and every few
  // seconds anyway (a path can move between nodes between two list updates).
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), PATHS_REFRESH_MS);
    return () => clearInterval(t);
  }, []);
  const { id, status, pathsServed, pathCount } = disk;
  // biome-ignore lint/correctness/useExhaustiveDependencies: status, pathsServed, pathCount and tick are refetch triggers
  useEffect(() => {
    let cancelled = false;
    void getDiskPaths(id).then((r) => {
      if (cancelled) return;
      if (r.ok) {
        setPaths([...r.value].sort((a, b) => a.index - b.index));
        setError(undefined);
      } else {
        setError(r.error);
      }
    });
    return () => {
      cancelled = true;
    };
  }, [id, status, pathsServed, pathCount, tick]);

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
      {error ? (
        <p className="alert alert-error" role="alert" data-testid="paths-error">
          {error.message}
        </p>
      ) : null}
      {paths === undefined && !error ? (
        <p className="muted" role="status">
          Loading paths…
        </p>
      ) : null}
      {paths !== undefined ? (
        paths.length === 0 ? (
          <p className="muted">This disk has no paths.</p>
        ) : (
          <div className="table-wrap">
            <table className="table table-compact" data-testid="paths-table">
              <caption className="sr-only">Paths of disk {disk.id}</caption>
              <thead>
                <tr>
                  <th scope="col" className="num">
                    Path
                  </th>
                  <th scope="col">IP address</th>
                  <th scope="col">Subnet mask</th>
                  <th scope="col">Interface</th>
                  <th scope="col">Node</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {paths.map((p) => (
                  <tr key={p.index} data-testid={`path-row-${p.index}`}>
                    <td className="num">{p.index}</td>
                    <td className="mono" data-testid={`path-ip-${p.index}`}>
                      {p.ip}
                    </td>
                    <td className="mono">{p.subnetMask}</td>
                    <td className="mono">{p.eth}</td>
                    <td data-testid={`path-node-${p.index}`}>
                      {p.node ?? <span className="muted">unassigned</span>}
                    </td>
                    <td>
                      <StatusBadge status={p.state} testId={`path-state-${p.index}`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : null}
    </Modal>
  );
}

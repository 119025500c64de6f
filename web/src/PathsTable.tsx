/**
 * The paths of one disk: IP, mask, interface, serving node and state, re-read as the disk changes.
 * With AssignPaths, each path can be moved to another live, undrained node (the call returns once
 * that node serves it).
 */
import { useEffect, useState } from 'react';
import { type ApiErrorBody, type DiskView, getDiskPaths, movePath, type NodeView, type PathView } from './api';
import { Table } from './CardTable';
import { FieldError } from './Field';
import { useNotify } from './notify';
import { usePermissions } from './session';
import { StatusBadge } from './StatusBadge';
import { useNodes } from './useNodes';

const PATHS_REFRESH_MS = 5000;

export function PathsTable({ disk }: { disk: DiskView }) {
  const { can } = usePermissions();
  const canMove = can('AssignPaths');
  const [paths, setPaths] = useState<PathView[] | undefined>(undefined);
  const [error, setError] = useState<ApiErrorBody | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const { id, status, pathsServed, pathCount } = disk;
  const { nodes } = useNodes(`${status}/${pathsServed}`);

  // Re-read whenever the live list reports a change of this disk, and every few seconds anyway
  // (a path can move between nodes between two list updates).
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), PATHS_REFRESH_MS);
    return () => clearInterval(t);
  }, []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: status, pathsServed, pathCount and tick are refetch triggers
  useEffect(() => {
    let cancelled = false;
    void getDiskPaths(id).then((r) => {
      if (cancelled) return;
      if (r.ok) {
        setPaths([...r.value].sort((a, b) => a.index - b.index));
        setError(undefined);
      } else setError(r.error);
    });
    return () => {
      cancelled = true;
    };
  }, [id, status, pathsServed, pathCount, tick]);

  const targets = (nodes ?? []).filter((n) => n.up && !n.drained);

  return (
    <>
      {error ? (
        <p className="alert alert-error" role="alert" data-testid="paths-error">
          Cannot load the paths: {error.message}
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
          <Table
            caption={`Paths of disk ${disk.id}`}
            rows={paths}
            testId="paths-table"
            className="table-compact"
            rowKey={(p) => p.index}
            rowTestId={(p) => `path-row-${p.index}`}
            columns={[
              { head: 'Path', headClassName: 'num', className: 'num', cell: (p) => p.index },
              { head: 'IP address', className: 'mono', cell: (p) => p.ip, cellTestId: (p) => `path-ip-${p.index}` },
              { head: 'Subnet mask', className: 'mono', cell: (p) => p.subnetMask },
              { head: 'Interface', className: 'mono', cell: (p) => p.eth },
              { head: 'Node', cell: (p) => p.node ?? <span className="muted">unassigned</span>, cellTestId: (p) => `path-node-${p.index}` },
              { head: 'State', cell: (p) => <StatusBadge status={p.state} testId={`path-state-${p.index}`} /> },
              {
                head: 'Hosts',
                cell: (p) => (p.hosts?.length ? <span className="mono">{p.hosts.map((h) => h.iqn).join(', ')}</span> : <span className="muted">none</span>),
                cellTestId: (p) => `path-hosts-${p.index}`,
              },
              { head: 'Move to node', show: canMove, cell: (p) => <MovePath disk={disk} path={p} targets={targets} /> },
            ]}
          />
        )
      ) : null}
    </>
  );
}

function MovePath({ disk, path, targets }: { disk: DiskView; path: PathView; targets: NodeView[] }) {
  const notify = useNotify();
  const [to, setTo] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const choices = targets.filter((n) => n.name !== path.node);
  const selected = choices.some((n) => n.name === to) ? to : (choices[0]?.name ?? '');
  const stopped = disk.status === 'stopped' || disk.status === 'stopping';
  const errId = `move-error-${disk.id}-${path.index}`;

  if (stopped) return <span className="muted">disk stopped</span>;
  if (choices.length === 0) return <span className="muted">no other node</span>;

  async function move(): Promise<void> {
    setBusy(true);
    setError(undefined);
    const r = await movePath(disk.id, path.index, selected);
    setBusy(false);
    if (r.ok) notify(r.value.moved ? `Path ${path.index} of disk ${disk.id} moved to ${r.value.to}.` : `Path ${path.index} is already on ${r.value.to}.`);
    else setError(r.error.message);
  }

  return (
    <div className="move-path">
      <div className="inline-controls">
        <select
          className="select select-small"
          aria-label={`Node to move path ${path.index} to`}
          aria-describedby={error ? errId : undefined}
          data-testid={`move-node-${path.index}`}
          value={selected}
          onChange={(e) => setTo(e.target.value)}
          disabled={busy}
        >
          {choices.map((n) => (
            <option key={n.name} value={n.name}>
              {n.name} ({n.pathCount})
            </option>
          ))}
        </select>
        <button type="button" className="button button-small" onClick={() => void move()} disabled={busy} data-testid={`move-path-${path.index}`}>
          {busy ? <span className="spinner spinner-dark" aria-hidden="true" /> : null}
          Move
        </button>
      </div>
      <FieldError id={errId} error={error} />
    </div>
  );
}

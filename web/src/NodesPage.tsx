/** The cluster's nodes: up or down, drained, paths held; drain and undrain (AssignPaths). */
import { useState } from 'react';
import { drainNode, type NodeView, undrainNode } from './api';
import { ConfirmDialog } from './ConfirmDialog';
import { LoadError } from './Field';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { Link } from './router';
import { usePermissions } from './session';
import { StatusBadge } from './StatusBadge';
import type { LiveDisks } from './useLiveDisks';
import { useNodes } from './useNodes';

const SHOWN_PATHS = 40;

export function NodesPage({ live }: { live: LiveDisks }) {
  const { can } = usePermissions();
  const canAssign = can('AssignPaths');
  const notify = useNotify();
  const { nodes, error, reload } = useNodes(live.disks);
  const [confirm, setConfirm] = useState<{ node: NodeView; action: 'drain' | 'undrain' } | undefined>(undefined);

  const eligibleOthers = (name: string): number => (nodes ?? []).filter((n) => n.name !== name && n.up && !n.drained).length;

  return (
    <>
      <PageHead
        title="Nodes"
        sub={
          <span className="page-sub">
            {nodes === undefined ? 'Loading…' : `${nodes.filter((n) => n.up).length} of ${nodes.length} up · ${nodes.filter((n) => n.drained).length} drained`}
          </span>
        }
      />
      {error ? <LoadError what="the nodes" error={error} onRetry={reload} /> : null}
      <section className="card" aria-label="Nodes">
        {nodes === undefined ? (
          error ? null : (
            <p className="empty" role="status">
              Loading nodes…
            </p>
          )
        ) : nodes.length === 0 ? (
          <p className="empty">No node has joined the cluster yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="table" data-testid="nodes-table">
              <caption className="sr-only">Nodes</caption>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">
                    Paths
                  </th>
                  <th scope="col">Paths held</th>
                  {canAssign ? (
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  ) : null}
                </tr>
              </thead>
              <tbody>
                {nodes.map((n) => (
                  <tr key={n.name} data-testid={`node-row-${n.name}`}>
                    <td className="mono cell-strong">{n.name}</td>
                    <td>
                      <span className="badge-row">
                        <StatusBadge status={n.up ? 'up' : 'down'} testId={`node-state-${n.name}`} />
                        {n.drained ? <StatusBadge status="drained" testId={`node-drained-${n.name}`} /> : null}
                      </span>
                    </td>
                    <td className="num" data-testid={`node-paths-${n.name}`}>
                      {n.pathCount}
                    </td>
                    <td>
                      {n.paths.length === 0 ? (
                        <span className="muted">none</span>
                      ) : (
                        <details className="details">
                          <summary>
                            {n.paths.length} path{n.paths.length === 1 ? '' : 's'}
                          </summary>
                          <ul className="chips">
                            {n.paths.slice(0, SHOWN_PATHS).map((p) => (
                              <li key={p}>
                                <Link className="chip mono" to={`/disks/${p.split('/')[0]}`}>
                                  {p}
                                </Link>
                              </li>
                            ))}
                            {n.paths.length > SHOWN_PATHS ? <li className="muted">and {n.paths.length - SHOWN_PATHS} more</li> : null}
                          </ul>
                        </details>
                      )}
                    </td>
                    {canAssign ? (
                      <td className="cell-actions">
                        {n.drained ? (
                          <button
                            type="button"
                            className="button button-small"
                            onClick={() => setConfirm({ node: n, action: 'undrain' })}
                            data-testid={`undrain-${n.name}`}
                          >
                            Undrain
                          </button>
                        ) : (
                          <button
                            type="button"
                            className="button button-small"
                            onClick={() => setConfirm({ node: n, action: 'drain' })}
                            data-testid={`drain-${n.name}`}
                          >
                            Drain
                          </button>
                        )}
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <p className="page-note">
        A drained node takes no new paths and hands the ones it holds to other nodes. Undraining does not bring paths back by itself: use{' '}
        <Link to="/paths">Rebalance</Link> on the paths page.
      </p>

      {confirm?.action === 'drain' ? (
        <ConfirmDialog
          title={
            <>
              Drain node <span className="mono">{confirm.node.name}</span>
            </>
          }
          confirmLabel="Drain node"
          testId="drain-dialog"
          onClose={() => setConfirm(undefined)}
          onConfirm={async () => {
            const r = await drainNode(confirm.node.name);
            if (!r.ok) return r.error;
            setConfirm(undefined);
            notify(`Node ${confirm.node.name} drained; its paths are moving away.`);
            reload();
            return undefined;
          }}
        >
          <p>
            Node <strong className="mono">{confirm.node.name}</strong> stops taking paths, and its {confirm.node.pathCount} path(s) move to other nodes (each is
            served again within seconds).
          </p>
          {eligibleOthers(confirm.node.name) === 0 ? (
            <p className="alert alert-warning">No other node is up and undrained: its paths stay where they are until one is.</p>
          ) : null}
        </ConfirmDialog>
      ) : null}
      {confirm?.action === 'undrain' ? (
        <ConfirmDialog
          title={
            <>
              Undrain node <span className="mono">{confirm.node.name}</span>
            </>
          }
          confirmLabel="Undrain node"
          testId="undrain-dialog"
          onClose={() => setConfirm(undefined)}
          onConfirm={async () => {
            const r = await undrainNode(confirm.node.name);
            if (!r.ok) return r.error;
            setConfirm(undefined);
            notify(`Node ${confirm.node.name} takes paths again.`);
            reload();
            return undefined;
          }}
        >
          <p>
            Node <strong className="mono">{confirm.node.name}</strong> takes new paths again. Paths it gave away stay where they are until you rebalance.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

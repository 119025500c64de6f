/** The cluster's nodes: up or down, drained, paths held; drain and undrain (AssignPaths). */
import { useState } from 'react';
import { drainNode, type NodeView, undrainNode } from './api';
import { CardTable } from './CardTable';
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
      <CardTable
        label="Nodes"
        rows={nodes}
        failed={error !== undefined}
        loadingText="Loading nodes…"
        empty="No node has joined the cluster yet."
        testId="nodes-table"
        rowKey={(n) => n.name}
        rowTestId={(n) => `node-row-${n.name}`}
        columns={[
          { head: 'Node', className: 'mono cell-strong', cell: (n) => n.name },
          {
            head: 'State',
            cell: (n) => (
              <span className="badge-row">
                <StatusBadge status={n.up ? 'up' : 'down'} testId={`node-state-${n.name}`} />
                {n.drained ? <StatusBadge status="drained" testId={`node-drained-${n.name}`} /> : null}
              </span>
            ),
          },
          { head: 'Paths', headClassName: 'num', className: 'num', cell: (n) => n.pathCount, cellTestId: (n) => `node-paths-${n.name}` },
          { head: 'Paths held', cell: (n) => <PathsHeld paths={n.paths} /> },
          {
            head: 'Actions',
            srOnly: true,
            show: canAssign,
            className: 'cell-actions',
            cell: (n) => (
              <button
                type="button"
                className="button button-small"
                onClick={() => setConfirm({ node: n, action: n.drained ? 'undrain' : 'drain' })}
                data-testid={`${n.drained ? 'undrain' : 'drain'}-${n.name}`}
              >
                {n.drained ? 'Undrain' : 'Drain'}
              </button>
            ),
          },
        ]}
      />
      <p className="page-note">
        A drained node takes no new paths and hands the ones it holds to other nodes. Undraining does not bring paths back by itself: use{' '}
        <Link to="/paths">Rebalance</Link> on the paths page.
      </p>

      {confirm ? (
        <ConfirmDialog
          key={`${confirm.action}-${confirm.node.name}`}
          title={
            <>
              {confirm.action === 'drain' ? 'Drain' : 'Undrain'} node <span className="mono">{confirm.node.name}</span>
            </>
          }
          confirmLabel={confirm.action === 'drain' ? 'Drain node' : 'Undrain node'}
          testId={`${confirm.action}-dialog`}
          onClose={() => setConfirm(undefined)}
          onConfirm={async () => {
            const { node, action } = confirm;
            const r = await (action === 'drain' ? drainNode(node.name) : undrainNode(node.name));
            if (!r.ok) return r.error;
            setConfirm(undefined);
            notify(action === 'drain' ? `Node ${node.name} drained; its paths are moving away.` : `Node ${node.name} takes paths again.`);
            reload();
            return undefined;
          }}
        >
          {confirm.action === 'drain' ? (
            <>
              <p>
                Node <strong className="mono">{confirm.node.name}</strong> stops taking paths, and its {confirm.node.pathCount} path(s) move to other nodes
                (each is served again within seconds).
              </p>
              {eligibleOthers(confirm.node.name) === 0 ? (
                <p className="alert alert-warning">No other node is up and undrained: its paths stay where they are until one is.</p>
              ) : null}
            </>
          ) : (
            <p>
              Node <strong className="mono">{confirm.node.name}</strong> takes new paths again. Paths it gave away stay where they are until you rebalance.
            </p>
          )}
        </ConfirmDialog>
      ) : null}
    </>
  );
}

/** The paths a node holds (disk/path), each a link to its disk; the first SHOWN_PATHS of them. */
function PathsHeld({ paths }: { paths: readonly string[] }) {
  if (paths.length === 0) return <span className="muted">none</span>;
  return (
    <details className="details">
      <summary>
        {paths.length} path{paths.length === 1 ? '' : 's'}
      </summary>
      <ul className="chips">
        {paths.slice(0, SHOWN_PATHS).map((p) => (
          <li key={p}>
            <Link className="chip mono" to={`/disks/${p.split('/')[0]}`}>
              {p}
            </Link>
          </li>
        ))}
        {paths.length > SHOWN_PATHS ? <li className="muted">and {paths.length - SHOWN_PATHS} more</li> : null}
      </ul>
    </details>
  );
}

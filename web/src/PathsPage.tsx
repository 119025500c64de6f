/**
 * Path assignment: how many paths each node serves, every path in one searchable table (IP, disk,
 * path, node, state) with a multi-select move to a node, moving one path (the disk picked from a
 * searchable list, only its paths, only other nodes), and rebalancing every path (the plan is shown
 * before it runs).
 */
import { useCallback, useEffect, useId, useMemo, useState } from 'react';
import { type ApiErrorBody, listPaths, movePath, type PathMove, type PathRow, planRebalance, type RebalanceResult, rebalance } from './api';
import { CardTable, Table } from './CardTable';
import { Field, FormError, focusError, LoadError, placeError, TextField, useFormSubmit } from './Field';
import { Modal } from './Modal';
import { useNotify } from './notify';
import { PageHead } from './PageHead';
import { Link } from './router';
import { usePermissions } from './session';
import { StatusBadge } from './StatusBadge';
import type { LiveDisks } from './useLiveDisks';
import { useNodes } from './useNodes';

export function PathsPage({ live }: { live: LiveDisks }) {
  const { can } = usePermissions();
  const canAssign = can('AssignPaths');
  const { disks } = live;
  const { nodes, error, reload } = useNodes(disks);
  const [rebalancing, setRebalancing] = useState(false);

  let total = 0;
  let unserved = 0;
  for (const d of disks ?? []) {
    total += d.pathCount;
    if (d.status !== 'stopped' && d.status !== 'stopping') unserved += d.pathCount - d.pathsServed;
  }
  const max = Math.max(1, ...(nodes ?? []).map((n) => n.pathCount));
  const [rows, setRows] = useState<PathRow[] | undefined>(undefined);
  const [rowsError, setRowsError] = useState<ApiErrorBody | undefined>(undefined);
  const loadRows = useCallback(() => {
    void listPaths().then((r) => {
      if (r.ok) {
        setRows(r.value);
        setRowsError(undefined);
      } else setRowsError(r.error);
    });
  }, []);
  // Again on every change of the live disk list (a path served elsewhere changes it), and every 5 s.
  // biome-ignore lint/correctness/useExhaustiveDependencies: disks is the trigger
  useEffect(loadRows, [loadRows, disks]);
  useEffect(() => {
    const t = setInterval(loadRows, 5000);
    return () => clearInterval(t);
  }, [loadRows]);
  const takers = (nodes ?? []).filter((n) => n.up && !n.drained).map((n) => n.name);
  const moved = () => {
    reload();
    loadRows();
  };

  return (
    <>
      <PageHead
        title="Paths"
        sub={
          <span className="page-sub">
            {disks === undefined ? 'Loading…' : `${total} path(s) of ${disks.length} disk(s) · ${unserved} of started disks not served`}
          </span>
        }
        actions={
          canAssign ? (
            <button type="button" className="button button-primary" onClick={() => setRebalancing(true)} data-testid="rebalance">
              Rebalance…
            </button>
          ) : null
        }
      />
      {error ? <LoadError what="the nodes" error={error} onRetry={reload} /> : null}

      <CardTable
        title="Paths per node"
        rows={nodes}
        failed={error !== undefined}
        empty="No node has joined the cluster yet."
        testId="paths-per-node"
        rowKey={(n) => n.name}
        rowTestId={(n) => `load-row-${n.name}`}
        columns={[
          { head: 'Node', className: 'mono cell-strong', cell: (n) => n.name },
          {
            head: 'State',
            cell: (n) => (
              <span className="badge-row">
                <StatusBadge status={n.up ? 'up' : 'down'} />
                {n.drained ? <StatusBadge status="drained" /> : null}
              </span>
            ),
          },
          { head: 'Paths', headClassName: 'num', className: 'num', cell: (n) => n.pathCount },
          {
            head: 'Load',
            headClassName: 'col-load',
            className: 'col-load',
            cell: (n) => (
              <div className="meter" aria-hidden="true">
                <div className="meter-bar" style={{ width: `${Math.round((n.pathCount / max) * 100)}%` }} />
              </div>
            ),
          },
        ]}
      />

      {rowsError ? <LoadError what="the paths" error={rowsError} onRetry={loadRows} /> : null}
      <AllPaths rows={rows} failed={rowsError !== undefined} nodes={takers} allNodes={(nodes ?? []).map((n) => n.name)} canAssign={canAssign} onMoved={moved} />

      {canAssign ? <MoveOnePath rows={rows ?? []} nodes={takers} onMoved={moved} /> : null}

      <p className="page-note">
        A disk's page shows its paths with the hosts logged in to each (open it from the <Link to="/disks">disk list</Link>).
      </p>

      {rebalancing ? (
        <RebalanceDialog
          onClose={() => {
            setRebalancing(false);
            reload();
          }}
        />
      ) : null}
    </>
  );
}

const pathKey = (p: { diskId: string; index: number }) => `${p.diskId}/${p.index}`;

/** Moves paths to a node, one request per disk for a shared disk (its paths move together). */
async function moveMany(paths: PathRow[], to: string): Promise<{ moved: number; already: number; failed: string[] }> {
  const out = { moved: 0, already: 0, failed: [] as string[] };
  const done = new Set<string>();
  for (const p of paths) {
    if (p.placement === 'shared' && done.has(p.diskId)) continue;
    done.add(p.diskId);
    const r = await movePath(p.diskId, p.index, to);
    if (r.ok) out.moved++;
    else if (r.error.code === 'path_on_node_already') out.already++;
    else out.failed.push(`${p.diskName} (${p.diskId}) path ${p.index}: ${r.error.message}`);
  }
  return out;
}

function AllPaths({
  rows,
  failed,
  nodes,
  allNodes,
  canAssign,
  onMoved,
}: {
  rows: PathRow[] | undefined;
  failed: boolean;
  nodes: string[];
  allNodes: string[];
  canAssign: boolean;
  onMoved: () => void;
}) {
  const uid = useId();
  const notify = useNotify();
  const [q, setQ] = useState('');
  const [nodeFilter, setNodeFilter] = useState('');
  const [stateFilter, setStateFilter] = useState('');
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [target, setTarget] = useState('');
  const [busy, setBusy] = useState(false);
  const [problems, setProblems] = useState<string[]>([]);

  const shown = useMemo(() => {
    const text = q.trim().toLowerCase();
    return (rows ?? []).filter(
      (p) =>
        (nodeFilter === '' || (nodeFilter === '-' ? p.node === null : p.node === nodeFilter)) &&
        (stateFilter === '' || p.state === stateFilter) &&
        (text === '' || [p.ip, p.diskId, p.diskName, p.node ?? ''].some((f) => f.toLowerCase().includes(text))),
    );
  }, [rows, q, nodeFilter, stateFilter]);
  const chosen = (rows ?? []).filter((p) => selected.has(pathKey(p)));
  const to = nodes.includes(target) ? target : (nodes[0] ?? '');
  const allShownSelected = shown.length > 0 && shown.every((p) => selected.has(pathKey(p)));
  const toggle = (k: string) =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (next.has(k)) next.delete(k);
      else next.add(k);
      return next;
    });

  async function moveSelected(): Promise<void> {
    setBusy(true);
    const r = await moveMany(chosen, to);
    setBusy(false);
    setProblems(r.failed);
    setSelected(new Set());
    notify(
      `${r.moved} move(s) to ${to} done${r.already ? `, ${r.already} already there` : ''}${r.failed.length ? `, ${r.failed.length} failed` : ''}.`,
      r.failed.length ? 'error' : undefined,
    );
    onMoved();
  }

  const states = [...new Set((rows ?? []).map((p) => p.state))].sort();
  return (
    <CardTable
      title="All paths"
      rows={shown}
      failed={failed}
      empty={rows?.length === 0 ? 'No disk has a path yet.' : 'No path matches the search and filters.'}
      testId="all-paths"
      className="table-compact"
      rowKey={pathKey}
      rowTestId={(p) => `path-row-${p.diskId}-${p.index}`}
      toolbar={
        <>
          <div className="toolbar">
            <div className="toolbar-filters">
              <div className="search">
                <label htmlFor={`${uid}-q`} className="sr-only">
                  Search paths
                </label>
                <input
                  id={`${uid}-q`}
                  className="input input-search"
                  type="search"
                  placeholder="Search: IP, disk name or id, node"
                  value={q}
                  onChange={(e) => setQ(e.target.value)}
                  data-testid="paths-search"
                />
              </div>
              <label htmlFor={`${uid}-node`} className="sr-only">
                Node
              </label>
              <select
                id={`${uid}-node`}
                className="select select-filter"
                value={nodeFilter}
                onChange={(e) => setNodeFilter(e.target.value)}
                data-testid="paths-node-filter"
              >
                <option value="">All nodes</option>
                {allNodes.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
                <option value="-">No node</option>
              </select>
              <label htmlFor={`${uid}-state`} className="sr-only">
                State
              </label>
              <select
                id={`${uid}-state`}
                className="select select-filter"
                value={stateFilter}
                onChange={(e) => setStateFilter(e.target.value)}
                data-testid="paths-state-filter"
              >
                <option value="">All states</option>
                {states.map((st) => (
                  <option key={st} value={st}>
                    {st}
                  </option>
                ))}
              </select>
            </div>
            <span className="toolbar-range" data-testid="paths-count">
              {rows ? `${shown.length} of ${rows.length}` : ''}
            </span>
          </div>
          {canAssign && chosen.length > 0 ? (
            <div className="toolbar toolbar-selection" data-testid="paths-selection">
              <span>{chosen.length} selected</span>
              <label htmlFor={`${uid}-to`}>Move to</label>
              <select id={`${uid}-to`} className="select select-filter" value={to} onChange={(e) => setTarget(e.target.value)} data-testid="paths-move-to">
                {nodes.length === 0 ? <option value="">no node can take paths</option> : null}
                {nodes.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
              <button
                type="button"
                className="button button-primary button-small"
                disabled={busy || to === ''}
                onClick={() => void moveSelected()}
                data-testid="paths-move-selected"
              >
                {busy ? <span className="spinner" aria-hidden="true" /> : null}
                Move {chosen.length} path(s)
              </button>
              <button type="button" className="button button-small" onClick={() => setSelected(new Set())}>
                Clear
              </button>
            </div>
          ) : null}
          {problems.length > 0 ? (
            <ul className="alert alert-error plain-list" role="alert" data-testid="paths-move-problems">
              {problems.map((m) => (
                <li key={m}>{m}</li>
              ))}
            </ul>
          ) : null}
        </>
      }
      columns={[
        {
          head: (
            <input
              type="checkbox"
              aria-label="Select every path shown"
              checked={allShownSelected}
              onChange={() => setSelected(allShownSelected ? new Set() : new Set(shown.map(pathKey)))}
              data-testid="paths-select-all"
            />
          ),
          show: canAssign,
          cell: (p) => (
            <input
              type="checkbox"
              aria-label={`Select path ${p.index} of disk ${p.diskId} ${p.diskName}`}
              checked={selected.has(pathKey(p))}
              onChange={() => toggle(pathKey(p))}
              data-testid={`path-select-${p.diskId}-${p.index}`}
            />
          ),
        },
        { head: 'IP', className: 'mono', cell: (p) => p.ip },
        {
          head: 'Disk',
          className: 'cell-name',
          cell: (p) => (
            <Link to={`/disks/${p.diskId}`} className="row-link">
              {p.diskName} <span className="muted mono">{p.diskId}</span>
            </Link>
          ),
        },
        { head: 'Path', className: 'num', headClassName: 'num', cell: (p) => p.index },
        { head: 'Node', className: 'mono', cell: (p) => p.node ?? '—', cellTestId: (p) => `path-node-${p.diskId}-${p.index}` },
        { head: 'State', cell: (p) => <StatusBadge status={p.state} /> },
      ]}
    />
  );
}

function MoveOnePath({ rows, nodes, onMoved }: { rows: PathRow[]; nodes: string[]; onMoved: () => void }) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f}`;
  const notify = useNotify();
  const [find, setFind] = useState('');
  const [disk, setDisk] = useState('');
  const [index, setIndex] = useState('');
  const [node, setNode] = useState('');
  const disks = useMemo(() => {
    const m = new Map<string, string>();
    for (const p of rows) m.set(p.diskId, p.diskName);
    return [...m.entries()];
  }, [rows]);
  const text = find.trim().toLowerCase();
  const matching = disks.filter(([i, n]) => text === '' || i.includes(text) || n.toLowerCase().includes(text));
  const diskId = matching.some(([i]) => i === disk) ? disk : (matching[0]?.[0] ?? '');
  const paths = rows.filter((p) => p.diskId === diskId);
  const path = paths.find((p) => String(p.index) === index) ?? paths[0];
  // Only the nodes that do not serve it already (a shared disk: the node of its paths).
  const others = nodes.filter((n) => n !== path?.node);
  const to = others.includes(node) ? node : (others[0] ?? '');
  const { busy, error, errorFor, onSubmit } = useFormSubmit(() => movePath(diskId, path?.index ?? 1, to), {
    onDone: (m) => {
      notify(`Path ${m.index} of disk ${m.id} moved to ${m.to} (${m.ms} ms).`);
      onMoved();
    },
    place: (e) => {
      // Codes that name no field still belong beside one.
      const byCode: Record<string, string> = { disk_not_found: 'disk', disk_not_started: 'disk', path_not_found: 'index', move_in_progress: 'index' };
      const err: ApiErrorBody = e.details.field ? e : { ...e, details: { ...e.details, field: byCode[e.code] } };
      return placeError(err, ['disk', 'index', 'node']);
    },
    focus: (shown) => focusError(shown, id, id('form-error')),
  });

  return (
    <section className="card card-pad" aria-labelledby={id('h')}>
      <h2 id={id('h')} className="card-title">
        Move one path
      </h2>
      <form className="form form-inline" onSubmit={onSubmit} noValidate aria-busy={busy} data-testid="move-form">
        <FormError id={id('form-error')} error={error} />
        <div className="form-grid form-grid-4">
          <TextField id={id('find')} label="Find disk" placeholder="name or id" autoComplete="off" data-testid="move-find" value={find} onChange={setFind} />
          <Field id={id('disk')} label="Disk" error={errorFor('disk')} errorTestId="move-error-disk">
            {(c) => (
              <select
                {...c}
                className="select"
                data-testid="move-disk"
                value={diskId}
                onChange={(e) => setDisk(e.target.value)}
                disabled={matching.length === 0}
              >
                {matching.length === 0 ? <option value="">no disk matches</option> : null}
                {matching.map(([i, n]) => (
                  <option key={i} value={i}>
                    {n} ({i})
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field id={id('index')} label="Path" error={errorFor('index')} errorTestId="move-error-index">
            {(c) => (
              <select
                {...c}
                className="select"
                data-testid="move-index"
                value={path ? String(path.index) : ''}
                onChange={(e) => setIndex(e.target.value)}
                disabled={!path}
              >
                {paths.map((p) => (
                  <option key={p.index} value={p.index}>
                    {p.index} · {p.ip} on {p.node ?? 'no node'}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field id={id('node')} label="To node" error={errorFor('node')} errorTestId="move-error-node">
            {(c) => (
              <select {...c} className="select" data-testid="move-to" value={to} onChange={(e) => setNode(e.target.value)} disabled={others.length === 0}>
                {others.length === 0 ? <option value="">no other node can take it</option> : null}
                {others.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <div className="field field-submit">
            <button type="submit" className="button button-primary" disabled={busy || !path || to === ''} data-testid="move-submit">
              {busy ? <span className="spinner" aria-hidden="true" /> : null}
              Move path
            </button>
          </div>
        </div>
      </form>
    </section>
  );
}

function RebalanceDialog({ onClose }: { onClose: () => void }) {
  const [plan, setPlan] = useState<PathMove[] | ApiErrorBody | undefined>(undefined);
  const [result, setResult] = useState<RebalanceResult | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [runError, setRunError] = useState<ApiErrorBody | undefined>(undefined);

  useEffect(() => {
    let cancelled = false;
    void planRebalance().then((r) => {
      if (!cancelled) setPlan(r.ok ? r.value : r.error);
    });
    return () => {
      cancelled = true;
    };
  }, []);

  async function run(): Promise<void> {
    setBusy(true);
    setRunError(undefined);
    const r = await rebalance();
    setBusy(false);
    if (r.ok) setResult(r.value);
    else setRunError(r.error);
  }

  const moves = Array.isArray(plan) ? plan : undefined;
  return (
    <Modal
      title="Rebalance paths"
      description="Even out the paths the nodes serve, one disk's paths on different nodes."
      onClose={onClose}
      testId="rebalance-dialog"
      wide
    >
      <div className="form">
        {plan === undefined ? (
          <p className="muted" role="status">
            Computing the plan…
          </p>
        ) : !moves ? (
          <LoadError what="the plan" error={plan as ApiErrorBody} />
        ) : result ? (
          <div role="status" data-testid="rebalance-result">
            <p className={result.failed.length > 0 ? 'alert alert-warning' : 'alert alert-success'}>
              {result.moves.filter((m) => m.moved).length} path(s) moved
              {result.failed.length > 0 ? `, ${result.failed.length} failed` : ''}.
            </p>
            {result.failed.length > 0 ? (
              <ul className="plain-list">
                {result.failed.map((f) => (
                  <li key={`${f.id}/${f.index}`}>
                    <span className="mono">
                      {f.id}/{f.index}
                    </span>{' '}
                    → {f.to}: {f.message}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : moves.length === 0 ? (
          <p className="alert alert-success" data-testid="rebalance-nothing">
            The paths are balanced already: nothing to move.
          </p>
        ) : (
          <>
            <p>
              {moves.length} path(s) will move. Each one is released by its node and taken by the other (a few seconds per path; a disk's paths move one at a
              time, so it stays reachable on its others).
            </p>
            <Table
              caption="Planned moves"
              rows={moves}
              testId="rebalance-plan"
              className="table-compact"
              wrapClassName="table-scroll"
              rowKey={(m) => `${m.id}/${m.index}`}
              columns={[
                {
                  head: 'Disk / path',
                  className: 'mono',
                  cell: (m) => (
                    <>
                      {m.id}/{m.index}
                    </>
                  ),
                },
                { head: 'From', className: 'mono', cell: (m) => m.from ?? '—' },
                { head: 'To', className: 'mono', cell: (m) => m.to },
              ]}
            />
          </>
        )}
        {runError ? (
          <p className="alert alert-error" role="alert">
            {runError.message}
          </p>
        ) : null}
        <div className="form-actions">
          <button type="button" className="button" onClick={onClose} data-autofocus>
            {result || (moves && moves.length === 0) ? 'Close' : 'Cancel'}
          </button>
          {moves && moves.length > 0 && !result ? (
            <button type="button" className="button button-primary" onClick={() => void run()} disabled={busy} data-testid="rebalance-run">
              {busy ? <span className="spinner" aria-hidden="true" /> : null}
              Move {moves.length} path(s)
            </button>
          ) : null}
        </div>
      </div>
    </Modal>
  );
}

/**
 * Path assignment: how many paths each node serves, moving one path to a node, and rebalancing
 * every path (the plan is shown before it runs).
 */
import { useEffect, useId, useState } from 'react';
import { type ApiErrorBody, movePath, type PathMove, planRebalance, type RebalanceResult, rebalance } from './api';
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

      {canAssign ? <MoveOnePath nodes={(nodes ?? []).filter((n) => n.up && !n.drained).map((n) => n.name)} onMoved={reload} /> : null}

      <p className="page-note">
        Every disk's paths are listed, with their IPs and nodes, on the disk's page (open it from the <Link to="/disks">disk list</Link>).
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

function MoveOnePath({ nodes, onMoved }: { nodes: string[]; onMoved: () => void }) {
  const uid = useId();
  const id = (f: string): string => `${uid}-${f}`;
  const notify = useNotify();
  const [disk, setDisk] = useState('');
  const [index, setIndex] = useState('1');
  const [node, setNode] = useState('');
  const to = nodes.includes(node) ? node : (nodes[0] ?? '');
  const { busy, error, errorFor, onSubmit } = useFormSubmit(() => movePath(disk.trim(), Number(index), to), {
    onDone: (m) => {
      notify(m.moved ? `Path ${m.index} of disk ${m.id} moved to ${m.to} (${m.ms} ms).` : `Path ${m.index} of disk ${m.id} is already on ${m.to}.`);
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
          <TextField
            id={id('disk')}
            label="Disk ID"
            error={errorFor('disk')}
            errorTestId="move-error-disk"
            className="mono"
            placeholder="00001"
            inputMode="numeric"
            autoComplete="off"
            data-testid="move-disk"
            value={disk}
            onChange={setDisk}
          />
          <Field id={id('index')} label="Path" error={errorFor('index')} errorTestId="move-error-index">
            {(c) => (
              <select {...c} className="select" data-testid="move-index" value={index} onChange={(e) => setIndex(e.target.value)}>
                {[1, 2, 3, 4, 5, 6, 7, 8].map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field id={id('node')} label="To node" error={errorFor('node')} errorTestId="move-error-node">
            {(c) => (
              <select {...c} className="select" data-testid="move-to" value={to} onChange={(e) => setNode(e.target.value)} disabled={nodes.length === 0}>
                {nodes.length === 0 ? <option value="">no node can take paths</option> : null}
                {nodes.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <div className="field field-submit">
            <button type="submit" className="button button-primary" disabled={busy || disk.trim() === '' || to === ''} data-testid="move-submit">
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

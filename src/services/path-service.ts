/**
 * Admin path placement: move one path to a named node, rebalance every path, drain and undrain a
 * node, and the node list. The agents do the work; this service writes intents and waits:
 *
 * - move: `moves/<id>/<n>` = {to}. The owner releases the path (target removed, IP dropped, owner key
 *   deleted), the named node takes it (only it may while the intent stands) and deletes the intent
 *   once it serves the path. Release-then-take: a path never has two owners, never two servers.
 * - rebalance: a plan from domain/placement.ts (fewest moves to even loads, one disk's paths spread),
 *   run as moves: one disk's moves one after the other (never two of its paths away at once), disks
 *   in parallel.
 * - drain: `drained/<name>` (no lease, so it survives the node's restart): the node takes no path
 *   and moves what it holds away (its agent writes the intents). undrain deletes the key; paths come
 *   back only by a rebalance (re-assignment is always an explicit admin action).
 */
import type { Logger } from 'pino';
import type { CoordStore, KeyValue } from '../adapters/coord/types.js';
import type { MovedPath, NodeView } from '../api/wire.js';
import { type ClusterView, clusterView } from '../domain/cluster-view.js';
import { type MoveIntent, ROOT, asMoveIntent, drainedKey, moveKey, ownerKey } from '../domain/keys.js';
import { parseDiskId, placementOf } from '../domain/disk.js';
import { type Assignment, type PathMove, pathRef, planRebalanceMixed } from '../domain/placement.js';
import { mapSettled, sleep } from '../util/async.js';
import { type Failure, fail } from '../domain/outcomes.js';
import { recordJson } from '../domain/records.js';
import { errText } from '../util/errors.js';

export type PathResult<T> = ({ ok: true } & T) | Failure;

export type { MovedPath, NodeView };

export interface PathServiceOptions {
  store: CoordStore;
  log: Logger;
  /** How long one move may take before it is called off. Default 30 s. */
  moveTimeoutMs?: number;
  /** How long a drain waits for the node to be empty. Default 60 s. */
  drainTimeoutMs?: number;
  pollMs?: number;
}

const NODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export class PathService {
  constructor(private readonly o: PathServiceOptions) {}

  private async view(): Promise<ClusterView<KeyValue> | Failure> {
    let kvs: KeyValue[];
    try {
      kvs = await this.o.store.list(`${ROOT}/`);
    } catch (e) {
      this.o.log.error({ err: errText(e) }, 'cluster state unreadable');
      return fail('coordination_error', 'The cluster state cannot be read from the coordination store right now; try again.');
    }
    return clusterView(kvs);
  }

  async nodes(): Promise<PathResult<{ nodes: NodeView[] }>> {
    const v = await this.view();
    if ('ok' in v) return v;
    const nodes = new Map<string, NodeView>();
    const get = (name: string): NodeView => {
      let n = nodes.get(name);
      if (!n) {
        const sv = v.nodes.get(name)?.settingsVersion;
        n = { name, up: v.nodes.has(name), drained: v.drained.has(name), paths: [], pathCount: 0, ...(typeof sv === 'number' ? { settingsVersion: sv } : {}) };
        nodes.set(name, n);
      }
      return n;
    };
    for (const name of v.nodes.keys()) get(name);
    for (const name of v.drained) get(name);
    for (const d of v.disks.values()) for (const [i, o] of d.owners) if (d.paths.has(i)) get(o.node).paths.push(`${d.record.id}/${i}`);
    const out = [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const n of out) {
      n.paths.sort();
      n.pathCount = n.paths.length;
    }
    return { ok: true, nodes: out };
  }

  /**
   * Moves path n of disk id to node `to`, and waits until `to` serves it. A shared disk's paths are
   * served by one node: every path of it moves (the move reported is path n's).
   */
  async move(id: string, index: number, to: string): Promise<PathResult<{ move: MovedPath; moves: MovedPath[] }>> {
    if (parseDiskId(id) === undefined) return fail('disk_not_found', `There is no disk ${String(id).slice(0, 20)}.`);
    if (!Number.isInteger(index) || index < 1) return fail('path_not_found', `Disk ${id} has no path ${String(index).slice(0, 10)}.`);
    if (typeof to !== 'string' || !NODE.test(to)) return fail('invalid_request', 'node must be a node name.', 'node');
    const v = await this.view();
    if ('ok' in v) return v;
    const d = v.disks.get(id);
    if (!d) return fail('disk_not_found', `There is no disk ${id}.`);
    if (!d.paths.has(index)) return fail('path_not_found', `Disk ${id} has no path ${index}.`);
    if (d.record.desired !== 'started') return fail('disk_not_started', `Disk ${id} is stopped; start it before moving its paths.`);
    if (!v.nodes.has(to)) return fail('node_not_found', `There is no live node ${to}.`, 'node');
    if (v.drained.has(to)) return fail('node_drained', `Node ${to} is drained; undrain it first.`, 'node');
    const indexes = placementOf(d.record) === 'shared' ? [...d.paths.keys()].sort((a, b) => a - b) : [index];
    if (indexes.every((i) => d.owners.get(i)?.node === to && d.owners.get(i)?.state === 'served'))
      return fail(
        'path_on_node_already',
        indexes.length > 1
          ? `Disk ${id} is shared: its paths are served together, and ${to} serves them already. Pick another node.`
          : `Path ${index} of disk ${id} is served by ${to} already. Pick another node.`,
        'node',
      );
    const r = await this.runMove(
      id,
      indexes.map((i) => ({ index: i, from: d.owners.get(i)?.node ?? null })),
      to,
      v,
    );
    if (!r.ok) return r;
    return { ok: true, move: r.moves.find((m) => m.index === index) as MovedPath, moves: r.moves };
  }

  /**
   * Moves paths of one disk to node `to` (their intents written in one transaction) and waits until
   * `to` serves every one of them.
   */
  private async runMove(
    id: string,
    paths: { index: number; from: string | null }[],
    to: string,
    v: ClusterView<KeyValue>,
  ): Promise<PathResult<{ moves: MovedPath[] }>> {
    const t0 = Date.now();
    const d = v.disks.get(id);
    const done = (i: number) => d?.owners.get(i)?.node === to && d.owners.get(i)?.state === 'served';
    if (paths.every((p) => done(p.index))) return { ok: true, moves: paths.map((p) => ({ id, index: p.index, from: p.from, to, moved: false, ms: 0 })) };
    const requestedAt = new Date().toISOString();
    const writes: { key: string; value: string }[] = [];
    try {
      for (const p of paths) {
        if (done(p.index)) continue;
        const key = moveKey(id, p.index);
        const existing = v.intents.get(`${id}/${p.index}`)?.kv ?? (await this.o.store.get(key));
        if (existing) {
          const other = asMoveIntent(safeJson(existing.value));
          if (other && other.to !== to) return fail('move_in_progress', `Path ${p.index} of disk ${id} is being moved to ${other.to}.`);
          continue;
        }
        writes.push({ key, value: recordJson('move', { to, from: p.from, requestedAt } satisfies MoveIntent) });
      }
      if (
        writes.length > 0 &&
        !(await this.o.store.txn(
          writes.map((w) => ({ key: w.key, modRevision: 0 })),
          writes.map((w) => ({ type: 'put' as const, ...w })),
        ))
      )
        return fail('move_in_progress', `A path of disk ${id} is being moved.`);
    } catch (e) {
      this.o.log.error({ err: errText(e), disk: id, paths: paths.map((p) => p.index) }, 'move intent not written');
      return fail('coordination_error', 'The move could not be recorded in the coordination store; try again.');
    }
    this.o.log.info({ disk: id, paths: paths.map((p) => p.index), from: paths[0]?.from, to }, 'path move requested');
    const end = t0 + (this.o.moveTimeoutMs ?? 30_000);
    const pending = new Set(paths.map((p) => p.index));
    const ms = new Map<number, number>();
    for (;;) {
      try {
        for (const index of [...pending]) {
          const key = moveKey(id, index);
          const [own, mv] = await Promise.all([this.o.store.get(ownerKey(id, index)), this.o.store.get(key)]);
          const rec = own ? (safeJson(own.value) as { node?: string; state?: string } | undefined) : undefined;
          if (rec?.node === to && rec.state === 'served' && !mv) {
            pending.delete(index);
            ms.set(index, Date.now() - t0);
            continue;
          }
          if (!mv && rec?.node !== to) {
            // The intent went away without the move: its target died or was drained meanwhile.
            return fail('move_timeout', `Path ${index} of disk ${id} did not move to ${to} (the node left or was drained).`);
          }
          if (Date.now() > end) {
            for (const i of pending) {
              const k = moveKey(id, i);
              const left = await this.o.store.get(k).catch(() => undefined);
              if (left) await this.o.store.txn([{ key: k, modRevision: left.modRevision }], [{ type: 'delete', key: k }]).catch(() => false);
            }
            return fail('move_timeout', `Path ${index} of disk ${id} did not reach ${to} in time; the move was called off.`, undefined, {
              node: rec?.node ?? null,
            });
          }
        }
        if (pending.size === 0) {
          this.o.log.info({ disk: id, paths: paths.map((p) => p.index), to, ms: Date.now() - t0 }, 'path moved');
          return { ok: true, moves: paths.map((p) => ({ id, index: p.index, from: p.from, to, moved: !done(p.index), ms: ms.get(p.index) ?? 0 })) };
        }
      } catch (e) {
        if (Date.now() > end) return fail('coordination_error', `Moving paths of disk ${id}: ${errText(e)}`);
      }
      await sleep(this.o.pollMs ?? 100);
    }
  }

  /** The moves that would even out the paths over the live, undrained nodes. */
  async plan(): Promise<PathResult<{ moves: PathMove[] }>> {
    const v = await this.view();
    if ('ok' in v) return v;
    const assigned: Assignment[] = [];
    for (const d of v.disks.values()) {
      if (d.record.desired !== 'started') continue;
      for (const [index, o] of d.owners) {
        const path = d.paths.get(index);
        if (!path || o.state !== 'served' || v.intents.has(`${d.record.id}/${index}`)) continue;
        assigned.push({ ...pathRef(d.record.id, index, path), node: o.node });
      }
    }
    const nodes = [...v.nodes.keys()].filter((n) => !v.drained.has(n));
    const shared = new Set([...v.disks.values()].filter((d) => placementOf(d.record) === 'shared').map((d) => d.record.id));
    return { ok: true, moves: planRebalanceMixed(assigned, shared, nodes) };
  }

  /** Computes a balanced plan and runs it as moves. */
  async rebalance(): Promise<PathResult<{ moves: MovedPath[]; failed: (PathMove & { code: string; message: string })[] }>> {
    const p = await this.plan();
    if (!p.ok) return p;
    const byDisk = new Map<string, PathMove[]>();
    for (const m of p.moves) byDisk.set(m.id, [...(byDisk.get(m.id) ?? []), m]);
    const moves: MovedPath[] = [];
    const failed: (PathMove & { code: string; message: string })[] = [];
    await mapSettled([...byDisk.values()], 4, async (list) => {
      // A shared disk moves whole (its paths in one go); a spread disk one path after the other.
      const shared = list.length > 0 && list.every((m) => m.to === list[0]?.to) && (await this.isShared(list[0]?.id as string));
      for (const group of shared ? [list] : list.map((m) => [m])) {
        const v = await this.view();
        const first = group[0] as PathMove;
        if ('ok' in v) {
          for (const m of group) failed.push({ ...m, code: v.code, message: v.message });
          continue;
        }
        const r = await this.runMove(
          first.id,
          group.map((m) => ({ index: m.index, from: m.from })),
          first.to,
          v,
        );
        if (r.ok) moves.push(...r.moves);
        else for (const m of group) failed.push({ ...m, code: r.code, message: r.message });
      }
    });
    this.o.log.info({ planned: p.moves.length, moved: moves.length, failed: failed.length }, 'rebalance done');
    return { ok: true, moves, failed };
  }

  private async isShared(id: string): Promise<boolean> {
    const v = await this.view();
    return !('ok' in v) && v.disks.get(id) !== undefined && placementOf((v.disks.get(id) as { record: { placement?: unknown } }).record) === 'shared';
  }

  /** Drains node `name`: it takes no path and moves what it holds away; waits until it holds none. */
  async drain(name: string, opts: { wait?: boolean } = {}): Promise<PathResult<{ node: NodeView }>> {
    if (typeof name !== 'string' || !NODE.test(name)) return fail('node_not_found', 'There is no such node.');
    const v = await this.view();
    if ('ok' in v) return v;
    const known = v.nodes.has(name) || v.drained.has(name) || [...v.disks.values()].some((d) => [...d.owners.values()].some((o) => o.node === name));
    if (!known) return fail('node_not_found', `There is no node ${name}.`);
    try {
      await this.o.store.put(drainedKey(name), recordJson('drained', { since: new Date().toISOString() }));
    } catch (e) {
      this.o.log.error({ err: errText(e), node: name }, 'drain not written');
      return fail('coordination_error', 'The drain could not be recorded in the coordination store; try again.');
    }
    this.o.log.info({ node: name }, 'node drained');
    const end = Date.now() + (this.o.drainTimeoutMs ?? 60_000);
    for (;;) {
      const n = await this.nodeView(name);
      if (!n.ok) return n;
      if (opts.wait === false || n.node.pathCount === 0) return n;
      if (Date.now() > end)
        return fail('drain_timeout', `Node ${name} is drained but still holds ${n.node.pathCount} path(s) (no other node could take them?).`, undefined, {
          paths: n.node.paths,
        });
      await sleep(this.o.pollMs ?? 100);
    }
  }

  async undrain(name: string): Promise<PathResult<{ node: NodeView }>> {
    if (typeof name !== 'string' || !NODE.test(name)) return fail('node_not_found', 'There is no such node.');
    try {
      await this.o.store.delete(drainedKey(name));
    } catch (e) {
      this.o.log.error({ err: errText(e), node: name }, 'undrain not written');
      return fail('coordination_error', 'The undrain could not be recorded in the coordination store; try again.');
    }
    this.o.log.info({ node: name }, 'node undrained');
    return this.nodeView(name);
  }

  private async nodeView(name: string): Promise<PathResult<{ node: NodeView }>> {
    const r = await this.nodes();
    if (!r.ok) return r;
    const node = r.nodes.find((n) => n.name === name);
    return node ? { ok: true, node } : fail('node_not_found', `There is no node ${name}.`);
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

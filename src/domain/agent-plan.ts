/**
 * What one node's agent does at a reconcile, decided from the cluster view alone: which paths it
 * keeps, adopts from a previous run, gives back, claims, and which move intents it writes or clears.
 * Pure and deterministic (every agent computes the same placement from the same view and claims only
 * its own share); the agent carries the plan out (agent.ts). Level-triggered: nothing here depends on
 * what the previous plan was.
 *
 * Rules:
 * - A path has one owner key (`owners/<id>/<n>`, under the owner's lease); only its owner serves it.
 * - `spread` disks: each path is placed on its own (paths of one disk on different nodes, then on
 *   different subnets, then even loads: placePaths).
 * - `shared` disks: every path on one node, its **home**: the target of an active move intent if any,
 *   else the node holding most of its paths (ties: the owner of its lowest path), else, when no path is
 *   owned, the node placeDisks picks. Owners that are not the home give their paths back; the home
 *   claims every unowned path of the disk in one transaction (all or none).
 * - Move intents (`moves/<id>/<n>`): the owner gives the path back, only the named node takes it, and
 *   deletes the intent once it serves it. An intent whose target is gone or drained is void.
 * - A drained node takes nothing and writes intents moving what it holds to the eligible nodes (a
 *   shared disk's every path to one node).
 * - The first eligible node by name clears intents of paths that are gone and keeps the SERVED markers.
 */
import { type ClusterView, type StoredKv, eligibleNodes, intentActive } from './cluster-view.js';
import { placementOf } from './disk.js';
import { prefixOfMask } from './ip.js';
import type { DiskState, MoveIntent } from './keys.js';
import { ownerKey, parseKey } from './keys.js';
import { type DiskUnit, type PathRef, homeOf, pathRef, placeDisks, placePaths } from './placement.js';
import { servedMarkerChange } from './status.js';

/** One path as this node serves it. */
export interface PlannedPath<K extends StoredKv = StoredKv> {
  id: string;
  index: number;
  ip: string;
  eth: string;
  prefix: number;
  /** Its owner key as read (absent for a path being claimed). */
  kv?: K;
  /** A move intent of the path, when there is one (deleted once the path is served by its target). */
  intent?: { kv: K; intent: MoveIntent };
}

export type ReleaseReason = 'stopped' | 'moved' | 'converging' | 'gone';

/** Paths this node claims in one transaction (all of them absent, or none is taken). */
export interface Claim<K extends StoredKv = StoredKv> {
  id: string;
  paths: PlannedPath<K>[];
  /** Intents that are void once these paths have an owner again (their target cannot take them). */
  voidIntents: K[];
}

export interface AgentPlan<K extends StoredKv = StoredKv> {
  /** Paths this node holds and serves (adopted ones included), and keeps serving. */
  keep: PlannedPath<K>[];
  /** Of `keep`, the keys under another lease than the current one (a previous run of this node). */
  adopt: PlannedPath<K>[];
  /** Paths this node gives back: target/portal removed, IP dropped, owner key deleted. */
  release: (PlannedPath<K> & { reason: ReleaseReason })[];
  /** What this node takes: each claim is one transaction. */
  claims: Claim<K>[];
  /** Move intents this (drained) node writes. */
  intents: { id: string; index: number; to: string; from: string }[];
  /** Keys to delete if unchanged: this node's owner keys of paths that are gone, void intents. */
  cleanup: K[];
  /** SERVED markers to set or clear (only on the node that keeps them). */
  markers: { id: string; change: 'set' | 'clear' }[];
  /** SERVED markers of disks that are gone (deleted if unchanged). */
  staleMarkers: K[];
  /** Live, undrained nodes by name. */
  eligible: string[];
}

export interface PlanInput<K extends StoredKv> {
  view: ClusterView<K>;
  /** This node's name. */
  me: string;
  /** This node's current lease. */
  leaseId: string;
}

function planned<K extends StoredKv>(d: DiskState, index: number, kv?: K, intent?: { kv: K; intent: MoveIntent }): PlannedPath<K> | undefined {
  const path = d.paths.get(index);
  if (!path) return undefined;
  return {
    id: d.record.id,
    index,
    ip: path.ip,
    eth: path.eth,
    prefix: prefixOfMask(path.subnetMask) ?? 32,
    ...(kv ? { kv } : {}),
    ...(intent ? { intent } : {}),
  };
}

export function planAgent<K extends StoredKv>({ view: v, me, leaseId }: PlanInput<K>): AgentPlan<K> {
  const eligible = eligibleNodes(v);
  const meEligible = !v.drained.has(me);
  const placeOn = meEligible && !eligible.includes(me) ? [...eligible, me].sort() : eligible;
  const active = (i: MoveIntent | undefined): i is MoveIntent => intentActive(v, i);
  const plan: AgentPlan<K> = { keep: [], adopt: [], release: [], claims: [], intents: [], cleanup: [], markers: [], staleMarkers: [], eligible };

  /** node -> paths it holds (for placement loads). */
  const held = new Map<string, PathRef[]>();
  const unownedSpread: PathRef[] = [];
  const unownedShared: DiskUnit[] = [];
  /** Claims of paths moved to this node (intent to me), by disk. */
  const reserved = new Map<string, Claim<K>>();
  const disks = [...v.disks.values()].sort((a, b) => (a.record.id < b.record.id ? -1 : 1));

  const claimFor = (id: string): Claim<K> => {
    let c = reserved.get(id);
    if (!c) {
      c = { id, paths: [], voidIntents: [] };
      reserved.set(id, c);
    }
    return c;
  };

  for (const d of disks) {
    const id = d.record.id;
    const wanted = d.record.desired === 'started';
    const shared = placementOf(d.record) === 'shared';
    const indexes = [...d.paths.keys()].sort((a, b) => a - b);
    // Who holds what.
    const owners = new Map<number, string>();
    for (const index of indexes) {
      const o = d.owners.get(index);
      if (o && v.owners.has(ownerKey(id, index))) owners.set(index, o.node);
    }
    for (const [index, node] of owners) held.set(node, [...(held.get(node) ?? []), pathRef(id, index, d.paths.get(index))]);

    // The shared disk's home: an active intent's target, else where its paths are.
    let home: string | undefined;
    if (shared) {
      for (const index of indexes) {
        const mv = v.intents.get(`${id}/${index}`);
        if (active(mv?.intent)) {
          home = mv?.intent.to;
          break;
        }
      }
      home ??= homeOf(owners);
    }

    const unowned: PathRef[] = [];
    for (const index of indexes) {
      const kv = v.owners.get(ownerKey(id, index));
      const node = owners.get(index);
      const mv = v.intents.get(`${id}/${index}`);
      const p = planned(d, index, kv, mv) as PlannedPath<K>;
      if (node === undefined) {
        if (!wanted) continue;
        if (shared) {
          if (home === undefined) unowned.push(pathRef(id, index, d.paths.get(index)));
          else if (home === me && meEligible) {
            const c = claimFor(id);
            c.paths.push(p);
            if (mv && mv.intent.to !== me) c.voidIntents.push(mv.kv);
          }
        } else if (mv && active(mv.intent)) {
          if (mv.intent.to === me) claimFor(id).paths.push(p);
        } else unowned.push(pathRef(id, index, d.paths.get(index)));
        continue;
      }
      if (node !== me) continue;
      if (!wanted) plan.release.push({ ...p, reason: 'stopped' });
      else if (mv && active(mv.intent) && mv.intent.to !== me) plan.release.push({ ...p, reason: 'moved' });
      else if (shared && home !== undefined && home !== me) plan.release.push({ ...p, reason: 'converging' });
      else {
        if (mv && !active(mv.intent)) plan.cleanup.push(mv.kv); // its target is gone or drained
        plan.keep.push(p);
        if (kv && kv.lease !== leaseId) plan.adopt.push(p);
      }
    }
    if (unowned.length === 0) continue;
    if (shared) unownedShared.push({ id, paths: unowned });
    else unownedSpread.push(...unowned);
  }

  // Intents of paths that no longer exist: the first eligible node clears them.
  const keeper = eligible[0] === me;
  if (keeper) {
    for (const [ref, mv] of v.intents) {
      const [id, n] = ref.split('/');
      if (!v.disks.get(id as string)?.paths.has(Number(n))) plan.cleanup.push(mv.kv);
    }
  }
  // This node's owner keys whose disk or path is gone.
  for (const kv of v.owners.values()) {
    const k = parseKey(kv.key);
    if (k.kind !== 'owner' || v.disks.get(k.id)?.paths.has(k.index)) continue;
    try {
      if ((JSON.parse(kv.value) as { node?: unknown }).node === me) plan.cleanup.push(kv);
    } catch {}
  }

  // A drained node moves what it holds to the eligible nodes: a shared disk whole, spread paths one by one.
  if (!meEligible && plan.keep.length > 0) {
    const others = eligible.filter((n) => n !== me);
    const heldElsewhere = new Map([...held].filter(([n]) => n !== me));
    const sharedHere = new Map<string, PathRef[]>();
    const spreadHere: PathRef[] = [];
    for (const p of plan.keep) {
      if (p.intent && active(p.intent.intent)) continue;
      const d = v.disks.get(p.id) as DiskState;
      const ref = pathRef(p.id, p.index, d.paths.get(p.index));
      if (placementOf(d.record) === 'shared') sharedHere.set(p.id, [...(sharedHere.get(p.id) ?? []), ref]);
      else spreadHere.push(ref);
    }
    const units = [...sharedHere].map(([id]) => {
      // Every path of the disk goes, owned here or not: the disk's new home takes the rest.
      const d = v.disks.get(id) as DiskState;
      return { id, paths: [...d.paths.keys()].sort((a, b) => a - b).map((i) => pathRef(id, i, d.paths.get(i))) };
    });
    for (const [to, list] of placeDisks(units, others, heldElsewhere)) {
      for (const u of list) {
        for (const p of u.paths) plan.intents.push({ id: p.id, index: p.index, to, from: me });
        heldElsewhere.set(to, [...(heldElsewhere.get(to) ?? []), ...u.paths]);
      }
    }
    for (const [to, refs] of placePaths(spreadHere, others, heldElsewhere)) for (const p of refs) plan.intents.push({ id: p.id, index: p.index, to, from: me });
  }

  // This node's share of the unowned paths: shared disks whole first, then spread paths.
  const claims: Claim<K>[] = [...reserved.values()];
  if (meEligible) {
    const placedHeld = new Map([...held].map(([n, l]) => [n, [...l]]));
    for (const [node, units] of placeDisks(unownedShared, placeOn, held)) {
      for (const u of units) {
        placedHeld.set(node, [...(placedHeld.get(node) ?? []), ...u.paths]);
        if (node !== me) continue;
        const d = v.disks.get(u.id) as DiskState;
        const c: Claim<K> = { id: u.id, paths: [], voidIntents: [] };
        for (const r of u.paths) {
          const mv = v.intents.get(`${r.id}/${r.index}`);
          c.paths.push(planned(d, r.index) as PlannedPath<K>);
          if (mv) c.voidIntents.push(mv.kv);
        }
        claims.push(c);
      }
    }
    for (const r of placePaths(unownedSpread, placeOn, placedHeld).get(me) ?? []) {
      const d = v.disks.get(r.id) as DiskState;
      const mv = v.intents.get(`${r.id}/${r.index}`);
      claims.push({ id: r.id, paths: [planned(d, r.index, undefined, mv) as PlannedPath<K>], voidIntents: mv && mv.intent.to !== me ? [mv.kv] : [] });
    }
  }
  plan.claims = claims.filter((c) => c.paths.length > 0);

  // The SERVED markers (status `degraded` vs `starting`), kept by the first eligible node.
  if (keeper) {
    for (const d of disks) {
      const change = servedMarkerChange(d);
      if (change) plan.markers.push({ id: d.record.id, change });
    }
    for (const [id, kv] of v.served) if (!v.disks.has(id)) plan.staleMarkers.push(kv);
  }
  return plan;
}

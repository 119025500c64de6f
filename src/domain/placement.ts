/**
 * Which node takes each unowned path: paths of one disk on different nodes when possible; where a node
 * must hold several paths of one disk (more paths than nodes), paths on different iSCSI subnets, so
 * that losing one node removes at most one path per subnet when it can; then even loads. Pure and
 * deterministic, so every agent computes the same plan and takes only its own share.
 */

import { cidrText, maskOfPrefix, parseIp, prefixOfMask } from './ip.js';

/** A path's subnet label for PathRef.subnet: its network in CIDR ("10.0.1.0/24"); undefined if unparsable. */
export function pathSubnet(ip: string, subnetMask: string): string | undefined {
  const n = parseIp(ip);
  const prefix = prefixOfMask(subnetMask);
  if (n === undefined || prefix === undefined) return undefined;
  return cidrText({ network: (n & maskOfPrefix(prefix)) >>> 0, prefix });
}

export interface PathRef {
  id: string;
  index: number;
  /** The path's iSCSI subnet (any stable label, e.g. its network address); optional. */
  subnet?: string;
}

/** Path `index` of disk `id`, labelled with its subnet when the path's IP and mask say it. */
export function pathRef(id: string, index: number, path?: { ip: string; subnetMask: string }): PathRef {
  const subnet = path ? pathSubnet(path.ip, path.subnetMask) : undefined;
  return subnet === undefined ? { id, index } : { id, index, subnet };
}

export function placePaths(
  unowned: readonly PathRef[],
  nodes: readonly string[],
  /** Current owners: node -> paths it holds. */
  held: ReadonlyMap<string, readonly PathRef[]>,
): Map<string, PathRef[]> {
  const plan = new Map<string, PathRef[]>();
  if (nodes.length === 0) return plan;
  const load = new Map<string, number>();
  /** `${node}\0${disk}` -> paths of the disk on the node; `${node}\0${disk}\0${subnet}` -> of those on the subnet. */
  const count = new Map<string, number>();
  const ck = (n: string, p: PathRef) => `${n}\0${p.id}`;
  const sk = (n: string, p: PathRef) => `${n}\0${p.id}\0${p.subnet ?? ''}`;
  const add = (n: string, p: PathRef) => {
    count.set(ck(n, p), (count.get(ck(n, p)) ?? 0) + 1);
    if (p.subnet !== undefined) count.set(sk(n, p), (count.get(sk(n, p)) ?? 0) + 1);
  };
  for (const n of nodes) {
    const h = held.get(n) ?? [];
    load.set(n, h.length);
    for (const p of h) add(n, p);
    plan.set(n, []);
  }
  const sorted = [...unowned].sort((a, b) => (a.id === b.id ? a.index - b.index : a.id < b.id ? -1 : 1));
  const order = [...nodes].sort();
  /** Lower is better: fewest paths of the disk, then fewest of its paths on this subnet, then load. */
  const rank = (n: string, p: PathRef): [number, number, number] => [
    count.get(ck(n, p)) ?? 0,
    p.subnet === undefined ? 0 : (count.get(sk(n, p)) ?? 0),
    load.get(n) ?? 0,
  ];
  for (const p of sorted) {
    let best: string | undefined;
    let bestRank: [number, number, number] | undefined;
    for (const n of order) {
      const r = rank(n, p);
      if (bestRank === undefined || r[0] < bestRank[0] || (r[0] === bestRank[0] && (r[1] < bestRank[1] || (r[1] === bestRank[1] && r[2] < bestRank[2])))) {
        best = n;
        bestRank = r;
      }
    }
    const b = best as string;
    plan.get(b)?.push(p);
    load.set(b, (load.get(b) ?? 0) + 1);
    add(b, p);
  }
  return plan;
}

/** One path's move from the node serving it to another. */
export interface PathMove {
  id: string;
  index: number;
  from: string;
  to: string;
}

export interface Assignment extends PathRef {
  node: string;
}

const refKey = (p: PathRef) => `${p.id}/${p.index}`;
const byRef = (a: PathRef, b: PathRef) => (a.id === b.id ? a.index - b.index : a.id < b.id ? -1 : 1);

/**
 * A balanced plan for paths that are already served: the fewest moves (greedy, one path at a time)
 * after which
 *  1. every path is on one of `nodes` (paths on other nodes, e.g. drained ones, move),
 *  2. no node holds more than ceil(paths / nodes) paths of one disk (a disk's paths spread),
 *  3. no node holds more than ceil(paths on the subnet / nodes) paths of one disk on one iSCSI subnet
 *     (where a node must hold two paths of a disk, they are on different subnets when they can be), and
 *  4. loads differ by at most one wherever (2) and (3) allow it.
 * Each rule weighs more than the next. Pure and deterministic. Each path appears at most once in the
 * result, from its current node to its final one.
 */
export function planRebalance(
  assigned: readonly Assignment[],
  nodes: readonly string[],
  /** Paths each node holds besides `assigned` (a shared disk's, which move as a whole elsewhere). */
  baseLoad?: ReadonlyMap<string, number>,
): PathMove[] {
  const order = [...new Set(nodes)].sort();
  if (order.length === 0) return [];
  const eligible = new Set(order);
  const paths = [...assigned].sort(byRef);
  const where = new Map<string, string>(paths.map((p) => [refKey(p), p.node]));
  const load = new Map<string, number>(order.map((n) => [n, baseLoad?.get(n) ?? 0]));
  const count = new Map<string, number>(); // `${node}\0${disk}` -> paths of disk on node; `...\0${subnet}` -> of those on the subnet
  const perDisk = new Map<string, number>(); // `${disk}` -> paths; `${disk}\0${subnet}` -> paths on the subnet
  const ck = (n: string, id: string) => `${n}\0${id}`;
  const sk = (n: string, p: PathRef) => `${n}\0${p.id}\0${p.subnet}`;
  const bump = (m: Map<string, number>, k: string, d: number) => m.set(k, (m.get(k) ?? 0) + d);
  for (const p of paths) {
    bump(perDisk, p.id, 1);
    if (p.subnet !== undefined) bump(perDisk, `${p.id}\0${p.subnet}`, 1);
    if (!eligible.has(p.node)) continue;
    bump(load, p.node, 1);
    bump(count, ck(p.node, p.id), 1);
    if (p.subnet !== undefined) bump(count, sk(p.node, p), 1);
  }
  const cap = (k: string) => Math.ceil((perDisk.get(k) ?? 0) / order.length);
  const excess = (c: number, k: string) => Math.max(0, c - cap(k));
  // disk spread > subnet spread > load (load terms stay far below MID for any real path count)
  const BIG = 1e12;
  const MID = 1e6;
  const place = (p: PathRef, from: string | undefined, to: string) => {
    if (from !== undefined && eligible.has(from)) {
      bump(load, from, -1);
      bump(count, ck(from, p.id), -1);
      if (p.subnet !== undefined) bump(count, sk(from, p), -1);
    }
    bump(load, to, 1);
    bump(count, ck(to, p.id), 1);
    if (p.subnet !== undefined) bump(count, sk(to, p), 1);
    where.set(refKey(p), to);
  };
  /** Cost change of adding path p to node n (disk spread, then subnet spread, then load). */
  const addCost = (p: PathRef, n: string) => {
    const c = count.get(ck(n, p.id)) ?? 0;
    const l = load.get(n) ?? 0;
    let cost = BIG * (excess(c + 1, p.id) - excess(c, p.id)) + 2 * l + 1;
    if (p.subnet !== undefined) {
      const sc = count.get(sk(n, p)) ?? 0;
      const key = `${p.id}\0${p.subnet}`;
      cost += MID * (excess(sc + 1, key) - excess(sc, key));
    }
    return cost;
  };
  const removeCost = (p: PathRef, n: string) => {
    const c = count.get(ck(n, p.id)) ?? 0;
    const l = load.get(n) ?? 0;
    let cost = BIG * (excess(c - 1, p.id) - excess(c, p.id)) - 2 * l + 1;
    if (p.subnet !== undefined) {
      const sc = count.get(sk(n, p)) ?? 0;
      const key = `${p.id}\0${p.subnet}`;
      cost += MID * (excess(sc - 1, key) - excess(sc, key));
    }
    return cost;
  };

  /** Subnet-excess change of node n when its count of disk id on subnet goes by d. */
  const subnetDelta = (n: string, id: string, subnet: string, d: number) => {
    const k = `${id}\0${subnet}`;
    const c = count.get(`${n}\0${id}\0${subnet}`) ?? 0;
    return excess(c + d, k) - excess(c, k);
  };
  const bestSwap = (): { p: PathRef; q: PathRef; a: string; b: string } | undefined => {
    const byDisk = new Map<string, PathRef[]>();
    for (const p of paths) if (p.subnet !== undefined) byDisk.set(p.id, [...(byDisk.get(p.id) ?? []), p]);
    let best: { p: PathRef; q: PathRef; a: string; b: string } | undefined;
    let bestDelta = 0;
    for (const list of byDisk.values())
      for (let i = 0; i < list.length; i++)
        for (let j = i + 1; j < list.length; j++) {
          const p = list[i] as PathRef;
          const q = list[j] as PathRef;
          const a = where.get(refKey(p)) as string;
          const b = where.get(refKey(q)) as string;
          if (a === b || p.subnet === q.subnet) continue;
          const ps = p.subnet as string;
          const qs = q.subnet as string;
          // p: a -> b, q: b -> a (subnet counts on a and b change; disk counts and loads do not)
          const delta = subnetDelta(a, p.id, ps, -1) + subnetDelta(a, p.id, qs, 1) + subnetDelta(b, p.id, qs, -1) + subnetDelta(b, p.id, ps, 1);
          if (delta < bestDelta) {
            bestDelta = delta;
            best = { p, q, a, b };
          }
        }
    return best;
  };

  // 1. Paths on nodes that may not hold them go to the cheapest eligible node.
  for (const p of paths) {
    if (eligible.has(p.node)) continue;
    let best = order[0] as string;
    for (const n of order) if (addCost(p, n) < addCost(p, best)) best = n;
    place(p, p.node, best);
  }
  // 2. Greedy: the single move that lowers the cost most, until none does.
  for (let round = 0; round < paths.length * order.length + 1; round++) {
    let bestDelta = 0;
    let bestMove: { p: PathRef; from: string; to: string } | undefined;
    for (const p of paths) {
      const from = where.get(refKey(p)) as string;
      const out = removeCost(p, from);
      for (const to of order) {
        if (to === from) continue;
        // adding to `to` after removing from `from` (different nodes: independent)
        const delta = out + addCost(p, to);
        if (delta < bestDelta) {
          bestDelta = delta;
          bestMove = { p, from, to };
        }
      }
    }
    if (bestMove) {
      place(bestMove.p, bestMove.from, bestMove.to);
      continue;
    }
    // No single move helps. Two paths of one disk on different subnets and nodes may still swap nodes:
    // that keeps every load and disk count, and can undo two same-subnet pairs (e.g. 2 + 2 paths on 2
    // nodes, each node with both paths of one subnet).
    const swap = bestSwap();
    if (!swap) break;
    place(swap.p, swap.a, swap.b);
    place(swap.q, swap.b, swap.a);
  }
  const moves: PathMove[] = [];
  for (const p of paths) {
    const to = where.get(refKey(p)) as string;
    if (to !== p.node) moves.push({ id: p.id, index: p.index, from: p.node, to });
  }
  return moves;
}

/** A shared disk's paths: placed, moved and failed over together, on one node. */
export interface DiskUnit {
  id: string;
  paths: PathRef[];
}

/**
 * Which node takes each unowned shared disk (all its paths): the eligible node with the fewest paths
 * (held, plus what this plan gives it), by name on a tie; disks in id order. Pure and deterministic,
 * so every agent computes the same plan and claims only its own share.
 */
export function placeDisks(units: readonly DiskUnit[], nodes: readonly string[], held: ReadonlyMap<string, readonly PathRef[]>): Map<string, DiskUnit[]> {
  const plan = new Map<string, DiskUnit[]>();
  const order = [...new Set(nodes)].sort();
  if (order.length === 0) return plan;
  const load = new Map(order.map((n) => [n, held.get(n)?.length ?? 0]));
  for (const n of order) plan.set(n, []);
  for (const u of [...units].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    let best = order[0] as string;
    for (const n of order) if ((load.get(n) ?? 0) < (load.get(best) ?? 0)) best = n;
    plan.get(best)?.push(u);
    load.set(best, (load.get(best) ?? 0) + Math.max(1, u.paths.length));
  }
  return plan;
}

/**
 * The node a shared disk whose paths are owned lives on: the node holding most of its paths, on a tie
 * the owner of its lowest-numbered path. Its other owners give their paths back (they converge there).
 */
export function homeOf(owners: ReadonlyMap<number, string>): string | undefined {
  const count = new Map<string, number>();
  let first: { index: number; node: string } | undefined;
  for (const [index, node] of owners) {
    count.set(node, (count.get(node) ?? 0) + 1);
    if (!first || index < first.index) first = { index, node };
  }
  if (!first) return undefined;
  let best = first.node;
  for (const [node, c] of count) if (c > (count.get(best) ?? 0)) best = node;
  return best;
}

/**
 * A balanced plan for disks that are served, shared disks moving whole: first every shared disk onto
 * one eligible node (its home when eligible), then whole shared disks from the fullest node to the
 * emptiest while that narrows the gap (largest first), then the spread disks' paths by planRebalance
 * with the shared disks' paths counted as load. Pure and deterministic.
 */
export function planRebalanceMixed(assigned: readonly Assignment[], shared: ReadonlySet<string>, nodes: readonly string[]): PathMove[] {
  const order = [...new Set(nodes)].sort();
  if (order.length === 0) return [];
  const eligible = new Set(order);
  const spread = assigned.filter((a) => !shared.has(a.id));
  const byDisk = new Map<string, Assignment[]>();
  for (const a of assigned) if (shared.has(a.id)) byDisk.set(a.id, [...(byDisk.get(a.id) ?? []), a]);
  const load = new Map(order.map((n) => [n, 0]));
  const bump = (n: string, d: number) => load.set(n, (load.get(n) ?? 0) + d);
  for (const a of spread) if (eligible.has(a.node)) bump(a.node, 1);
  const home = new Map<string, string>();
  const ids = [...byDisk.keys()].sort();
  // 1. Each shared disk on one eligible node.
  const unhomed: string[] = [];
  for (const id of ids) {
    const list = byDisk.get(id) as Assignment[];
    const h = homeOf(new Map(list.map((a) => [a.index, a.node])));
    if (h !== undefined && eligible.has(h)) {
      home.set(id, h);
      bump(h, list.length);
    } else unhomed.push(id);
  }
  for (const id of unhomed) {
    let best = order[0] as string;
    for (const n of order) if ((load.get(n) ?? 0) < (load.get(best) ?? 0)) best = n;
    home.set(id, best);
    bump(best, byDisk.get(id)?.length ?? 0);
  }
  // 2. Whole disks from the fullest node to the emptiest while the gap narrows.
  for (let round = 0; round < ids.length * order.length + 1; round++) {
    const sorted = [...order].sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || (a < b ? -1 : 1));
    const lo = sorted[0] as string;
    const hi = sorted[sorted.length - 1] as string;
    const gap = (load.get(hi) ?? 0) - (load.get(lo) ?? 0);
    let pick: string | undefined;
    let size = 0;
    for (const id of ids) {
      const s = byDisk.get(id)?.length ?? 0;
      if (home.get(id) === hi && s < gap && s > size) {
        pick = id;
        size = s;
      }
    }
    if (!pick) break;
    home.set(pick, lo);
    bump(hi, -size);
    bump(lo, size);
  }
  const moves: PathMove[] = [];
  for (const id of ids)
    for (const a of (byDisk.get(id) as Assignment[]).sort(byRef)) {
      const to = home.get(id) as string;
      if (a.node !== to) moves.push({ id, index: a.index, from: a.node, to });
    }
  const base = new Map(order.map((n) => [n, 0]));
  for (const id of ids) base.set(home.get(id) as string, (base.get(home.get(id) as string) ?? 0) + (byDisk.get(id)?.length ?? 0));
  return [...moves, ...planRebalance(spread, order, base)];
}

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
export function planRebalance(assigned: readonly Assignment[], nodes: readonly string[]): PathMove[] {
  const order = [...new Set(nodes)].sort();
  if (order.length === 0) return [];
  const eligible = new Set(order);
  const paths = [...assigned].sort(byRef);
  const where = new Map<string, string>(paths.map((p) => [refKey(p), p.node]));
  const load = new Map<string, number>(order.map((n) => [n, 0]));
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

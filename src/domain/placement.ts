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
 *  2. no node holds more than ceil(paths / nodes) paths of one disk (a disk's paths spread), and
 *  3. loads differ by at most one wherever (2) allows it.
 * (2) weighs more than (3). Pure and deterministic. Each path appears at most once in the result,
 * from its current node to its final one.
 */
export function planRebalance(assigned: readonly Assignment[], nodes: readonly string[]): PathMove[] {
  const order = [...new Set(nodes)].sort();
  if (order.length === 0) return [];
  const eligible = new Set(order);
  const paths = [...assigned].sort(byRef);
  const where = new Map<string, string>(paths.map((p) => [refKey(p), p.node]));
  const load = new Map<string, number>(order.map((n) => [n, 0]));
  const count = new Map<string, number>(); // `${node}\0${disk}` -> paths of disk on node
  const perDisk = new Map<string, number>();
  const ck = (n: string, id: string) => `${n}\0${id}`;
  for (const p of paths) {
    perDisk.set(p.id, (perDisk.get(p.id) ?? 0) + 1);
    if (!eligible.has(p.node)) continue;
    load.set(p.node, (load.get(p.node) ?? 0) + 1);
    count.set(ck(p.node, p.id), (count.get(ck(p.node, p.id)) ?? 0) + 1);
  }
  const cap = (id: string) => Math.ceil((perDisk.get(id) ?? 0) / order.length);
  const excess = (c: number, id: string) => Math.max(0, c - cap(id));
  const BIG = 1_000_000;
  const place = (p: PathRef, from: string | undefined, to: string) => {
    if (from !== undefined && eligible.has(from)) {
      load.set(from, (load.get(from) ?? 0) - 1);
      count.set(ck(from, p.id), (count.get(ck(from, p.id)) ?? 0) - 1);
    }
    load.set(to, (load.get(to) ?? 0) + 1);
    count.set(ck(to, p.id), (count.get(ck(to, p.id)) ?? 0) + 1);
    where.set(refKey(p), to);
  };
  /** Cost change of adding one path of disk id to node n (spread first, then load). */
  const addCost = (id: string, n: string) => {
    const c = count.get(ck(n, id)) ?? 0;
    const l = load.get(n) ?? 0;
    return BIG * (excess(c + 1, id) - excess(c, id)) + 2 * l + 1;
  };
  const removeCost = (id: string, n: string) => {
    const c = count.get(ck(n, id)) ?? 0;
    const l = load.get(n) ?? 0;
    return BIG * (excess(c - 1, id) - excess(c, id)) - 2 * l + 1;
  };

  // 1. Paths on nodes that may not hold them go to the cheapest eligible node.
  for (const p of paths) {
    if (eligible.has(p.node)) continue;
    let best = order[0] as string;
    for (const n of order) if (addCost(p.id, n) < addCost(p.id, best)) best = n;
    place(p, p.node, best);
  }
  // 2. Greedy: the single move that lowers the cost most, until none does.
  for (let round = 0; round < paths.length * order.length + 1; round++) {
    let bestDelta = 0;
    let bestMove: { p: PathRef; from: string; to: string } | undefined;
    for (const p of paths) {
      const from = where.get(refKey(p)) as string;
      const out = removeCost(p.id, from);
      for (const to of order) {
        if (to === from) continue;
        // adding to `to` after removing from `from` (different nodes: independent)
        const delta = out + addCost(p.id, to);
        if (delta < bestDelta) {
          bestDelta = delta;
          bestMove = { p, from, to };
        }
      }
    }
    if (!bestMove) break;
    place(bestMove.p, bestMove.from, bestMove.to);
  }
  const moves: PathMove[] = [];
  for (const p of paths) {
    const to = where.get(refKey(p)) as string;
    if (to !== p.node) moves.push({ id: p.id, index: p.index, from: p.node, to });
  }
  return moves;
}

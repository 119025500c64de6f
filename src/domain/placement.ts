/**
 * Which node takes each unowned path: paths of one disk on different nodes when possible, and even
 * loads. Pure and deterministic, so every agent computes the same plan and takes only its own share.
 */

export interface PathRef {
  id: string;
  index: number;
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
  const disksOn = new Map<string, Set<string>>();
  for (const n of nodes) {
    const h = held.get(n) ?? [];
    load.set(n, h.length);
    disksOn.set(n, new Set(h.map((p) => p.id)));
    plan.set(n, []);
  }
  const sorted = [...unowned].sort((a, b) => (a.id === b.id ? a.index - b.index : a.id < b.id ? -1 : 1));
  const order = [...nodes].sort();
  for (const p of sorted) {
    let best: string | undefined;
    for (const n of order) {
      if (best === undefined) {
        best = n;
        continue;
      }
      const spreadN = disksOn.get(n)?.has(p.id) ? 1 : 0;
      const spreadB = disksOn.get(best)?.has(p.id) ? 1 : 0;
      if (spreadN < spreadB || (spreadN === spreadB && (load.get(n) ?? 0) < (load.get(best) ?? 0))) best = n;
    }
    const b = best as string;
    plan.get(b)?.push(p);
    load.set(b, (load.get(b) ?? 0) + 1);
    disksOn.get(b)?.add(p.id);
  }
  return plan;
}

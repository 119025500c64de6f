/**
 * Summary of a V8 .cpuprofile (node --cpu-prof): the top functions by self time and by inclusive time,
 * optionally only the samples of the first --until-ms ms of the profile.
 *
 *   node --import tsx bench/lib/cpuprofile.ts FILE.cpuprofile [--until-ms N] [--top N]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function summarize(p: Profile, untilMs = Number.POSITIVE_INFINITY, top = 30): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = 0;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t / 1000 > untilMs) break;
    const id = p.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  }
  const label = (n: ProfNode) => {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(src|node_modules)\//, '$1/');
    return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id) as ProfNode;
    self.set(label(n), (self.get(label(n)) ?? 0) + us);
    // inclusive: every distinct function on the stack once
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur) as ProfNode);
      if (seen.has(l)) continue;
      seen.add(l);
      incl.set(l, (incl.get(l) ?? 0) + us);
    }
  }
  const idle = ['(idle)', '(program)', '(garbage collector)', '(root)'];
  const idleUs = [...self].filter(([k]) => idle.some((x) => k.startsWith(x)) && !k.startsWith('(garbage')).reduce((a, [, v]) => a + v, 0);
  const row = ([k, v]: [string, number]) =>
    `${(v / 1000).toFixed(0).padStart(8)} ms ${((100 * v) / Math.max(1, total - idleUs)).toFixed(1).padStart(5)}%  ${k}`;
  const sorted = (m: Map<string, number>) =>
    [...m]
      .filter(([k]) => !k.startsWith('(root)') && !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top);
  return [
    `profile: ${(total / 1e6).toFixed(2)} s sampled, ${((total - idleUs) / 1e6).toFixed(2)} s on the CPU (not idle/program); % of that`,
    '-- self --',
    ...sorted(self).map(row),
    '-- inclusive --',
    ...sorted(incl).map(row),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const file = args[0];
  if (!file) throw new Error('usage: cpuprofile.ts FILE [--until-ms N] [--top N]');
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  process.stdout.write(`${summarize(p, opt('--until-ms'), opt('--top'))}\n`);
}

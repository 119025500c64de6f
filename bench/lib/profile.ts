/** A CPU profile of this process (V8 sampling profiler through node:inspector), reduced to the top functions by self time. */
import { Session } from 'node:inspector/promises';

export interface HotSpot {
  fn: string;
  where: string;
  selfMs: number;
  share: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Runs fn under the profiler (sampling every intervalUs) and returns the top `top` functions by self time. */
export async function hotSpots(fn: () => Promise<void>, top = 10, intervalUs = 200): Promise<HotSpot[]> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await session.post('Profiler.start');
    let profile: RawProfile | undefined;
    try {
      await fn();
    } finally {
      profile = ((await session.post('Profiler.stop')) as unknown as { profile: RawProfile }).profile;
      await session.post('Profiler.disable');
    }
    return reduce(profile, top);
  } finally {
    session.disconnect();
  }
}

interface RawProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

function reduce(profile: RawProfile, top: number): HotSpot[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>(); // node id -> µs
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    // timeDeltas[i] is the time before sample i; attribute the next delta to this sample
    const dt = deltas[i + 1] ?? deltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const agg = new Map<string, HotSpot>();
  let total = 0;
  for (const [id, t] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    total += t;
    const url = n.callFrame.url.replace(/^file:\/\/.*?\/(src|bench|test|node_modules)\//, '$1/');
    // line numbers are of the code tsx hands to V8, not of the source: the file is enough
    const where = url;
    const key = `${name}@${where}`;
    const h = agg.get(key) ?? { fn: name, where, selfMs: 0, share: 0 };
    h.selfMs += t / 1000;
    agg.set(key, h);
  }
  const list = [...agg.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top);
  for (const h of list) h.share = total > 0 ? (h.selfMs * 1000) / total : 0;
  return list;
}

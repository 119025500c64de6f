/**
 * End-state checks of the simulated cluster (test/harness/cluster.ts) after multi-node faults and the
 * soak: the shared consistency checker on etcd + the shared image directory + this cluster's tgtds
 * (only those inside its namespaces: other runs may use the same 10.99.x.x subnets at the same
 * time), and per disk where its paths are served:
 *  - a started disk: every path owned by a live node, its IP on that node and on no other, exactly
 *    one tgtd for it in the whole cluster (on the owner), and it answers an INQUIRY from the client
 *    namespace with the disk's serial;
 *  - a started shared disk: all of that on one node (every path owned by it, one tgtd there);
 *  - a stopped disk: no owner, no IP on any node, no tgtd.
 */
import { readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { FileImageStore } from '../../../src/adapters/images/file-store.js';
import type { SimCluster } from '../../harness/cluster.js';
import { namespaceInode } from '../../harness/netns.js';
import { waitFor } from '../../helpers/wait.js';
import { check, snapshot } from './consistency.js';
import type { TgtdProc } from './procs.js';

function netnsInodeOf(pid: number): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** tgtd processes of this cluster: pid -> node name. */
function clusterTgtds(c: SimCluster, procs: TgtdProc[]): Map<number, string> {
  const byInode = new Map<number, string>();
  for (const n of c.nodes) {
    const ino = namespaceInode(n.ns);
    if (ino !== undefined) byInode.set(ino, n.name);
  }
  const out = new Map<number, string>();
  for (const p of procs) {
    const node = byInode.get(netnsInodeOf(p.pid) ?? -1);
    if (node) out.set(p.pid, node);
  }
  return out;
}

export function clusterImages(c: SimCluster): FileImageStore {
  return new FileImageStore(c.imageDir);
}

/** Violations (readable sentences) of the cluster's end state; [] when it is right. */
export async function clusterViolations(c: SimCluster, opts: { inquiry?: boolean } = {}): Promise<string[]> {
  const images = await clusterImages(c).init();
  const snap = await snapshot(c.store, images, '10.99.');
  const mine = clusterTgtds(c, snap.tgtds);
  snap.tgtds = snap.tgtds.filter((t) => mine.has(t.pid));
  // Each node opens the shared image directory through its own <node>/images symlink.
  const real = (f: string) => {
    try {
      return realpathSync(f);
    } catch {
      return f;
    }
  };
  for (const [pid, t] of snap.targets) if (t) snap.targets.set(pid, { ...t, backing: t.backing.map(real) });
  const v = check(snap, { settled: true, backingOf: (name) => real(join(c.imageDir, `${name}.img`)) });

  const live = new Set((await c.store.list('/portway/nodes/')).map((kv) => kv.key.split('/').pop() as string));
  const ipsOn = new Map<string, string[]>();
  for (const n of c.nodes) for (const ip of await n.pathIps()) ipsOn.set(ip, [...(ipsOn.get(ip) ?? []), n.name]);
  const tgtdOn = new Map<string, string[]>();
  for (const t of snap.tgtds) tgtdOn.set(t.ip, [...(tgtdOn.get(t.ip) ?? []), mine.get(t.pid) as string]);

  const list = await c.disks.list();
  if (!list.ok) return [...v, `disk list: ${list.code}`];
  const pathIps = new Set<string>();
  const probes: { id: string; index: number; ip: string; iqn: string }[] = [];
  for (const d of list.disks) {
    const r = await c.disks.paths(d.id);
    if (!r.ok) {
      v.push(`disk ${d.id}: paths unreadable (${r.code})`);
      continue;
    }
    const started = d.status !== 'stopped' && d.status !== 'stopping';
    // A shared disk lives on one node: every path's owner, IP and tgtd there.
    if (started && d.placement === 'shared') {
      const nodes = new Set(r.paths.flatMap((p) => [p.node ?? '(none)', ...(ipsOn.get(p.ip) ?? []), ...(tgtdOn.get(p.ip) ?? [])]));
      if (nodes.size > 1) v.push(`shared disk ${d.id} is spread over [${[...nodes].sort()}]`);
    }
    for (const p of r.paths) {
      pathIps.add(p.ip);
      const on = ipsOn.get(p.ip) ?? [];
      const t = tgtdOn.get(p.ip) ?? [];
      if (started) {
        if (d.status !== 'started') v.push(`disk ${d.id} is ${d.status}, not started`);
        if (p.state !== 'served' || !p.node) v.push(`disk ${d.id} path ${p.index} (${p.ip}) is ${p.state}`);
        else if (!live.has(p.node)) v.push(`disk ${d.id} path ${p.index} is owned by ${p.node}, which is not live`);
        if (on.length !== 1 || on[0] !== p.node) v.push(`disk ${d.id} path ${p.index} (${p.ip}) owned by ${p.node} is on nodes [${on}]`);
        if (t.length !== 1 || t[0] !== p.node) v.push(`disk ${d.id} path ${p.index} (${p.ip}) owned by ${p.node} has tgtds on [${t}]`);
        if (opts.inquiry !== false && t.length === 1) probes.push({ id: d.id, index: p.index, ip: p.ip, iqn: d.iqn });
      } else {
        if (d.status !== 'stopped') v.push(`disk ${d.id} is ${d.status}, not stopped`);
        if (p.node) v.push(`stopped disk ${d.id} path ${p.index} still owned by ${p.node}`);
        if (on.length > 0) v.push(`stopped disk ${d.id} path ${p.index} (${p.ip}) is still on nodes [${on}]`);
        if (t.length > 0) v.push(`stopped disk ${d.id} path ${p.index} (${p.ip}) still has tgtds on [${t}]`);
      }
    }
  }
  for (const [ip, on] of ipsOn) if (!pathIps.has(ip)) v.push(`IP ${ip} of no disk is on nodes [${on}]`);
  for (const [ip, on] of tgtdOn) if (!pathIps.has(ip)) v.push(`tgtd for ${ip}, of no disk, runs on [${on}]`);
  if ((await c.store.list('/portway/pending/')).length > 0) v.push('an add intent (pending/<id>) is left behind');
  // INQUIRY from the client namespace, a few at a time.
  const queue = [...probes];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let q = queue.shift(); q; q = queue.shift()) {
        const serial = await c.inquiry(q.ip, q.iqn, 10_000).catch((e) => `error: ${(e as Error).message.split('\n')[0]}`);
        if (serial !== `PW${q.id}`) v.push(`disk ${q.id} path ${q.index} (${q.ip}): INQUIRY from the client gave ${serial}`);
      }
    }),
  );
  return [...new Set(v)];
}

/**
 * Waits (bounded) until the cluster's end state is right; throws with the last violations. The INQUIRY
 * probes run once the cheap checks pass. Returns the ms until the cheap checks passed (converged) and
 * until everything did (checked: the probes take seconds on a loaded box).
 */
export async function waitClusterConsistent(c: SimCluster, timeoutMs: number): Promise<{ convergedMs: number; checkedMs: number }> {
  const t0 = Date.now();
  let last: string[] = [];
  let convergedMs: number | undefined;
  let said = t0;
  return waitFor(
    async () => {
      last = await clusterViolations(c, { inquiry: false });
      if (last.length === 0) {
        convergedMs ??= Date.now() - t0;
        last = await clusterViolations(c, { inquiry: true });
        if (last.length === 0) return { convergedMs, checkedMs: Date.now() - t0 };
      }
      if (Date.now() - said > 10_000) {
        said = Date.now();
        process.stderr.write(
          `# still converging after ${Math.round((said - t0) / 1000)} s: ${last.slice(0, 3).join('; ')}${last.length > 3 ? ` (+${last.length - 3})` : ''}\n`,
        );
      }
      return undefined;
    },
    { what: 'the cluster to converge', timeoutMs, intervalMs: 500, detail: () => `\n  - ${last.join('\n  - ')}` },
  );
}

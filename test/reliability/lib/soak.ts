/**
 * The 3-node soak (issue #8), shared by test/reliability/soak.test.ts (short, CI) and bench/soak.ts
 * (full length): on the simulated cluster, workers run random add / stop / start / delete / edit
 * through DiskService for a bounded time and op count, while one node is restarted on a schedule,
 * round robin over the nodes, the kind of restart alternating:
 *
 *   kill      the agent alone SIGKILLed by PID (its tgtds and path IPs left as they are: a crash), then
 *             started again. Nothing here cleans up: the node's fence guard (src/agent/guard.ts) does,
 *             if the agent is not back within the fence time (0.6 TTL): tgtds killed, IPs dropped, before
 *             the lease can expire and another node take the paths. Before the guard this soak saw one
 *             IP on two nodes for ~9 s when a restart under load took 21-23 s with a 10 s TTL.
 *   graceful  SIGTERM (the agent gives its paths back), started again
 *   reboot    agent and tgtds SIGKILLed and the node's cables pulled (SimNode.powerOff), then powerOn
 *
 * Every op's outcome is recorded: ok, or the failure's code (a clear error must have a known code and
 * a message; anything else, a thrown exception included, is `unclear`). The model (which disks exist
 * and what they should be) follows the successful ops, so the end state can be compared with it.
 *
 * Disks are added with the default placement (`shared`: every path on one node, in one tgtd), except
 * that while no spread disk is in the model the next add of two or more paths is `spread` (paths over
 * the nodes): one spread disk among the shared ones, most of the time.
 */
import { performance } from 'node:perf_hooks';
import { INITIATOR, type SimCluster, type SimNode, waitUntil } from '../../harness/cluster.js';
import type { DiskView } from '../../../src/services/disk-service.js';
import { type BackgroundVerifier, type VerifierResult, runVerifier, startVerifier } from '../../helpers/write-verifier.js';

export type OpKind = 'add' | 'stop' | 'start' | 'delete' | 'edit';
export type RestartKind = 'kill' | 'graceful' | 'reboot';

export interface SoakParams {
  seconds: number;
  restartEverySeconds: number;
  /**
   * Restarts to get done: on a slow machine (restarts of 30-45 s seen with the CPU shared) the run goes on
   * past `seconds`, ops included, until this many restarts began, but never past 3 x `seconds`.
   */
  minRestarts: number;
  maxOps: number;
  /** Disks alive at most (adds turn into deletes beyond it). */
  maxDisks: number;
  workers: number;
  seed: number;
  log?: (line: string) => void;
  /**
   * Awaited before each restart, with the node about to go down (not part of the restart's time):
   * soak.test.ts moves the disk its write verifier writes to onto that node, so every restart kind hits
   * a disk under I/O.
   */
  beforeRestart?: (node: SimNode, kind: RestartKind) => Promise<void>;
}

export interface OpRecord {
  kind: OpKind;
  outcome: string;
  ms: number;
  message?: string;
}

export interface RestartRecord {
  node: string;
  kind: RestartKind;
  at: number;
  /** ms the restart itself took (down + agent ready again). */
  restartMs: number;
  /** ms from the restart's begin until every started disk that existed then was started again (undefined: not within the window). */
  convergedMs?: number;
  error?: string;
}

export interface SoakResult {
  ops: OpRecord[];
  restarts: RestartRecord[];
  elapsedMs: number;
  /** Disk id -> desired state, as the successful ops left it. */
  model: Map<string, 'started' | 'stopped'>;
  /** Disks added with placement `spread` (the others have the default, `shared`). */
  spread: Set<string>;
  /** Disks whose fate is unknown (an op whose outcome was unclear). */
  uncertain: Set<string>;
}

/** Codes a user may see from these ops under faults: each comes with a readable message. */
export const CLEAR_CODES = new Set([
  'disk_not_found',
  'disk_not_stopped',
  'disk_busy',
  'disk_exists',
  'disk_name_exists',
  'storage_error',
  'coordination_error',
  'disk_list_unreadable',
  'meta_unreadable',
  'ip_out_of_range',
  'no_disk_id',
  // edit: a random size below the current one (disks only grow)
  'invalid_size',
]);

/** mulberry32: a seeded PRNG, so a failing run can be replayed with SOAK_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function soakParamsFromEnv(defaults: Partial<SoakParams> = {}): SoakParams {
  const num = (name: string, d: number) => {
    const v = process.env[name];
    return v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d;
  };
  return {
    seconds: num('SOAK_SECONDS', defaults.seconds ?? 90),
    restartEverySeconds: num('SOAK_RESTART_EVERY_S', defaults.restartEverySeconds ?? 25),
    minRestarts: num('SOAK_MIN_RESTARTS', defaults.minRestarts ?? 3),
    maxOps: num('SOAK_MAX_OPS', defaults.maxOps ?? 2000),
    maxDisks: num('SOAK_MAX_DISKS', defaults.maxDisks ?? 10),
    workers: num('SOAK_WORKERS', defaults.workers ?? 2),
    seed: num('SOAK_SEED', defaults.seed ?? Date.now() % 1_000_000),
  };
}

async function restartNode(n: SimNode, kind: RestartKind): Promise<void> {
  if (kind === 'kill') {
    n.killAgent();
    await n.stopAgent('SIGKILL', 1000);
    await n.startAgent();
  } else if (kind === 'graceful') {
    await n.stopAgent('SIGTERM', 30_000);
    await n.startAgent();
  } else {
    await n.powerOff();
    await n.stopAgent('SIGKILL', 1000);
    await n.powerOn();
  }
}

export async function runSoak(c: SimCluster, p: SoakParams): Promise<SoakResult> {
  const log = p.log ?? (() => {});
  const rnd = prng(p.seed);
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length ? xs[Math.floor(rnd() * xs.length)] : undefined);
  const model = new Map<string, 'started' | 'stopped'>();
  const spread = new Set<string>();
  let addingSpread = false;
  const uncertain = new Set<string>();
  const busy = new Set<string>();
  const ops: OpRecord[] = [];
  const restarts: RestartRecord[] = [];
  const t0 = performance.now();
  const deadline = t0 + p.seconds * 1000;
  const hardDeadline = t0 + 3 * p.seconds * 1000;
  let opCount = 0;
  let names = 0;
  const more = () => {
    const t = performance.now();
    return opCount < p.maxOps && t < hardDeadline && (t < deadline || restarts.length < p.minRestarts);
  };

  const record = (kind: OpKind, started: number, r: { ok: boolean; code?: string; message?: string } | Error) => {
    const ms = performance.now() - started;
    if (r instanceof Error) {
      ops.push({ kind, outcome: 'unclear', ms, message: `threw: ${r.message}` });
      return;
    }
    if (r.ok) ops.push({ kind, outcome: 'ok', ms });
    else {
      const clear = r.code !== undefined && CLEAR_CODES.has(r.code) && typeof r.message === 'string' && r.message.length > 10;
      ops.push({ kind, outcome: clear ? (r.code as string) : 'unclear', ms, message: `${r.code}: ${r.message}` });
    }
  };

  /** A disk's status as the store says (undefined: gone or unreadable). */
  const statusOf = async (id: string): Promise<string | undefined> => {
    const r = await c.disks.get(id);
    return r.ok ? r.disk.status : undefined;
  };

  const oneOp = async (): Promise<void> => {
    const ids = [...model.keys()].filter((id) => !busy.has(id) && !uncertain.has(id));
    const started = ids.filter((id) => model.get(id) === 'started');
    const stopped = ids.filter((id) => model.get(id) === 'stopped');
    const r = rnd();
    let kind: OpKind;
    if (model.size < 3 || (r < 0.3 && model.size < p.maxDisks)) kind = 'add';
    else if (r < 0.5) kind = started.length ? 'stop' : 'add';
    else if (r < 0.65) kind = stopped.length ? 'start' : 'stop';
    else if (r < 0.9) kind = stopped.length ? 'delete' : started.length ? 'stop' : 'add';
    else kind = ids.length ? 'edit' : 'add';
    if (kind === 'stop' && !started.length) kind = 'add';
    if (kind === 'add' && model.size >= p.maxDisks) kind = stopped.length ? 'delete' : 'stop';
    if ((kind === 'stop' && !started.length) || (kind === 'delete' && !stopped.length)) return;
    opCount++;
    const begin = performance.now();
    if (kind === 'add') {
      const name = `soak-${p.seed}-${names++}`;
      const paths = 1 + Math.floor(rnd() * 3);
      const subnet = paths === 1 ? 1 + Math.floor(rnd() * 2) : 3;
      // One spread disk among the shared ones: the next add of 2+ paths while none is in the model.
      const asSpread = paths > 1 && !addingSpread && ![...spread].some((id) => model.has(id));
      if (asSpread) addingSpread = true;
      try {
        const res = await c.disks.add({
          name,
          sizeGb: 1,
          activePaths: paths,
          subnet,
          ipMode: 'auto',
          acl: { mode: 'all' },
          auth: { mode: 'none' },
          ...(asSpread ? { placement: 'spread' } : {}),
        });
        record('add', begin, res);
        if (res.ok) {
          model.set(res.disk.id, 'started');
          if (asSpread) spread.add(res.disk.id);
        }
      } catch (e) {
        record('add', begin, e as Error);
      } finally {
        if (asSpread) addingSpread = false;
      }
      return;
    }
    const id = pick(kind === 'start' || kind === 'delete' ? stopped : kind === 'stop' ? started : ids) as string;
    busy.add(id);
    try {
      if (kind === 'stop') {
        const res = await c.disks.stop(id);
        record(kind, begin, res);
        if (res.ok) model.set(id, 'stopped');
      } else if (kind === 'start') {
        const res = await c.disks.start(id);
        record(kind, begin, res);
        if (res.ok) model.set(id, 'started');
      } else if (kind === 'edit') {
        const res = await c.disks.edit(id, rnd() < 0.5 ? { name: `soak-${p.seed}-${names++}` } : { sizeGb: 2 + Math.floor(rnd() * 3) });
        record(kind, begin, res);
      } else {
        // Delete only once stopped (the user waits for `stopped`): a bounded wait, then try anyway.
        const end = performance.now() + 20_000;
        while (performance.now() < end && (await statusOf(id)) === 'stopping') await sleep(200);
        const res = await c.disks.delete(id);
        record(kind, begin, res);
        if (res.ok) model.delete(id);
      }
    } catch (e) {
      record(kind, begin, e as Error);
      uncertain.add(id);
    } finally {
      busy.delete(id);
    }
  };

  const worker = async () => {
    while (more()) {
      await oneOp();
      await sleep(50 + rnd() * 150);
    }
  };

  const restarter = async () => {
    const kinds: RestartKind[] = ['kill', 'graceful', 'reboot'];
    for (let k = 0; ; k++) {
      const due = t0 + (k + 1) * p.restartEverySeconds * 1000;
      while (performance.now() < due) {
        if (!more()) return;
        await sleep(Math.min(250, due - performance.now()));
      }
      if (!more()) return;
      const node = c.nodes[k % c.nodes.length] as SimNode;
      const kind = kinds[k % kinds.length] as RestartKind;
      if (p.beforeRestart) await p.beforeRestart(node, kind).catch((e) => log(`# soak: before the restart of ${node.name}: ${(e as Error).message}`));
      const at = performance.now();
      const before = [...model.entries()].filter(([, d]) => d === 'started').map(([id]) => id);
      const rec: RestartRecord = { node: node.name, kind, at: Math.round(at - t0), restartMs: 0 };
      restarts.push(rec);
      log(`# soak: restart ${k + 1}: ${node.name} (${kind}) at ${Math.round((at - t0) / 1000)} s`);
      try {
        await restartNode(node, kind);
      } catch (e) {
        rec.error = (e as Error).message;
        log(`# soak: restart of ${node.name} failed: ${rec.error}`);
      }
      rec.restartMs = Math.round(performance.now() - at);
      // Convergence: every disk started before the restart (and still meant started) is `started` again.
      const nextDue = t0 + (k + 2) * p.restartEverySeconds * 1000;
      while (performance.now() < nextDue && more()) {
        let done = true;
        for (const id of before) {
          if (model.get(id) !== 'started') continue;
          if ((await statusOf(id)) !== 'started') {
            done = false;
            break;
          }
        }
        if (done) {
          rec.convergedMs = Math.round(performance.now() - at);
          break;
        }
        await sleep(200);
      }
    }
  };

  await Promise.all([...Array.from({ length: p.workers }, () => worker()), restarter()]);
  return { ops, restarts, elapsedMs: performance.now() - t0, model, uncertain, spread };
}

export function percentile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
}

/** The summary table: per op kind, count, outcomes, p50 / p99 latency. */
export function soakTable(r: SoakResult): string {
  const kinds: OpKind[] = ['add', 'stop', 'start', 'delete', 'edit'];
  const lines = ['| op | count | outcomes | p50 ms | p99 ms |', '|---|---|---|---|---|'];
  for (const k of kinds) {
    const list = r.ops.filter((o) => o.kind === k);
    if (list.length === 0) continue;
    const outcomes = new Map<string, number>();
    for (const o of list) outcomes.set(o.outcome, (outcomes.get(o.outcome) ?? 0) + 1);
    const ms = list.map((o) => o.ms);
    lines.push(
      `| ${k} | ${list.length} | ${[...outcomes].map(([o, n]) => `${o} ${n}`).join(', ')} | ${Math.round(percentile(ms, 0.5))} | ${Math.round(percentile(ms, 0.99))} |`,
    );
  }
  lines.push(`| all | ${r.ops.length} | ${(r.ops.length / (r.elapsedMs / 1000)).toFixed(2)} ops/s over ${Math.round(r.elapsedMs / 1000)} s | | |`);
  const rs = ['| restart | node | kind | at s | restart ms | converged ms |', '|---|---|---|---|---|---|'];
  for (const [i, x] of r.restarts.entries())
    rs.push(
      `| ${i + 1} | ${x.node} | ${x.kind} | ${Math.round(x.at / 1000)} | ${x.restartMs} | ${x.convergedMs ?? (x.error ? `failed: ${x.error}` : 'not within the window')} |`,
    );
  const spread = `Disks added spread: ${r.spread.size} (${[...r.spread].join(', ') || 'none'}); every other disk shared.`;
  return `${lines.join('\n')}\n\n${spread}\n\n${rs.join('\n')}`;
}

/** Disks the store holds vs the model the successful ops built: [] when they agree. */
export function modelViolations(r: SoakResult, disks: readonly DiskView[]): string[] {
  const v: string[] = [];
  const inStore = new Map(disks.map((d) => [d.id, d]));
  for (const [id, desired] of r.model) {
    if (r.uncertain.has(id)) continue;
    const d = inStore.get(id);
    if (!d) v.push(`disk ${id} (${desired} for the ops) is gone from the store (lost disk)`);
    else if ((desired === 'started') !== (d.status === 'started' || d.status === 'starting' || d.status === 'degraded'))
      v.push(`disk ${id} should be ${desired} but is ${d.status}`);
  }
  for (const d of disks) if (!r.model.has(d.id) && !r.uncertain.has(d.id)) v.push(`disk ${d.id} (${d.name}) is in the store but no successful add made it`);
  return v;
}

// ---- the write verifier across the soak (issue 17) ---------------------------------------------

export interface SoakVerifierOptions {
  /** The dedicated disk: started, shared, and never touched by the soak's random ops. */
  disk: { id: string; iqn: string };
  /** Its path URLs (a path keeps its IP wherever it is served). */
  urls: string[];
  /** pw-verify's state file (kept across a give-up: the next run goes on from it with --continue). */
  state: string;
  blocks: number;
  queueDepth: number;
  cmdTimeoutS: number;
  giveUpS: number;
  /**
   * A give-up is a failure only if the disk was meant to be reachable: if, inside the give-up window, the
   * store said every path `served` (= answering, docs/HA.md) for longer than this. The verifier tries each
   * path at least once per --cmd-timeout per path, so a disk served that long would have been reached.
   */
  servedGraceMs: number;
  log?: (line: string) => void;
}

export interface SoakVerifierGiveUp {
  /** ms from the verifier's start */
  at: number;
  /** the longest stretch inside the give-up window in which the store said every path served */
  servedMs: number;
  /** served longer than servedGraceMs, yet no path answered: a failure */
  whileServed: boolean;
  reason: string;
}

export interface SoakVerifierReport {
  /** pw-verify processes: the first, a --continue after each give-up, a --verify-only if the last read-back failed */
  runs: number;
  /** acknowledged writes over every run */
  acked: number;
  inDoubt: number;
  reconnects: number;
  /** from the read-back of the whole history (the last run's, or a --verify-only after it) */
  lost: number;
  stale: number;
  giveUps: SoakVerifierGiveUp[];
  final: VerifierResult;
  /** set when the verification ended some other way (then lost/stale say nothing) */
  error?: string;
  /** ms the verifier wrote, from the first start to the stop */
  ms: number;
}

export interface SoakVerifier {
  /** resolves once the first run has acknowledged writes */
  readonly started: Promise<void>;
  /** SIGTERM the run (it drains and reads the region back), or read back after a give-up; the report */
  stop(): Promise<SoakVerifierReport>;
  /** After a failure: SIGKILL the run, no read-back, no waiting */
  abort(): void;
}

/**
 * pw-verify writing to one disk from the cluster's client namespace for as long as the soak runs, through
 * every path URL (reconnecting like a multipath host). Should it give up (no path for --give-up seconds),
 * the give-up is recorded, and judged against what the store said meanwhile (servedGraceMs); once the
 * disk is served and answering again a new run goes on from the state file (--continue), so the final
 * read-back still checks every acknowledged write of the whole soak.
 */
export function startSoakVerifier(c: SimCluster, o: SoakVerifierOptions): SoakVerifier {
  const log = o.log ?? (() => {});
  const { id, iqn } = o.disk;
  const t0 = Date.now();
  const samples: { t: number; served: boolean }[] = [];
  let stopping = false;
  let current: BackgroundVerifier | undefined;
  const results: VerifierResult[] = [];
  const giveUps: SoakVerifierGiveUp[] = [];
  const common = {
    urls: o.urls,
    netns: c.client,
    initiator: INITIATOR,
    state: o.state,
    blocks: o.blocks,
    queueDepth: o.queueDepth,
    cmdTimeoutS: o.cmdTimeoutS,
    giveUpS: o.giveUpS,
    onLog: (l: string) => {
      if (!/^\s*\d+s acked /.test(l.replace(/^pw-verify:\s*/, ''))) log(`# verifier: ${l}`);
    },
  };

  // What the store says about the disk's paths, every 500 ms (a failed read says nothing).
  const sampler = (async () => {
    while (!stopping) {
      const r = await c.disks.paths(id).catch(() => undefined);
      if (r?.ok) samples.push({ t: Date.now(), served: r.paths.length > 0 && r.paths.every((p) => p.state === 'served') });
      await sleep(500);
    }
  })();
  const longestServed = (from: number, to: number): number => {
    let best = 0;
    let since: number | undefined;
    for (const s of samples) {
      if (s.t < from || s.t > to) continue;
      if (!s.served) since = undefined;
      else {
        since ??= s.t;
        best = Math.max(best, s.t - since);
      }
    }
    return best;
  };
  let aborted = false;
  /** Every path served (store) and answering INQUIRY from the client. */
  const usable = () =>
    waitUntil(
      `disk ${id} served and answering again`,
      async () => {
        if (aborted) throw new Error('the soak verifier was aborted');
        const r = await c.disks.paths(id).catch(() => undefined);
        if (!r?.ok || r.paths.length === 0 || !r.paths.every((p) => p.state === 'served')) return undefined;
        for (const p of r.paths) if ((await c.inquiry(p.ip, iqn, 3000).catch(() => '')) !== `PW${id}`) return undefined;
        return true;
      },
      300_000,
      250,
    );

  let firstRun: (v: BackgroundVerifier) => void = () => {};
  const first = new Promise<BackgroundVerifier>((res) => {
    firstRun = res;
  });
  const loop = (async (): Promise<{ final: VerifierResult; error?: string }> => {
    let cont = false;
    let connectRetries = 0;
    for (;;) {
      if (cont) await usable();
      if (cont && stopping) {
        const final = await runVerifier({ ...common, verifyOnly: true });
        results.push(final);
        return { final };
      }
      const v = startVerifier({ ...common, seconds: 0, continue: cont });
      current = v;
      firstRun(v);
      if (stopping)
        await v.waitFor(/./, 30_000).then(
          () => v.stop(),
          () => undefined,
        );
      const r = await v.result;
      current = undefined;
      results.push(r);
      if (r.exitCode === 3 && r.stage === 'write') {
        const at = Date.now();
        const servedMs = longestServed(at - o.giveUpS * 1000, at);
        const g = { at: at - t0, servedMs, whileServed: servedMs > o.servedGraceMs, reason: r.error ?? '' };
        giveUps.push(g);
        log(
          `# verifier gave up at ${Math.round(g.at / 1000)} s (${g.reason}); the store said served for ${servedMs} ms of that window; going on with --continue once the disk answers`,
        );
        cont = true;
        continue;
      }
      if (r.exitCode === 2 && r.stage === 'connect' && cont && !stopping && ++connectRetries <= 5) continue; // gone again between the check and the login
      if (r.exitCode === 3 && r.stage === 'verify') {
        // the read-back lost the disk (after a stop): read it back again once it answers
        await usable();
        const final = await runVerifier({ ...common, verifyOnly: true });
        results.push(final);
        return { final };
      }
      if (!stopping) return { final: r, error: `the verifier ended by itself: exit ${r.exitCode}, stage ${r.stage}: ${r.error}` };
      return { final: r };
    }
  })();
  loop.catch(() => {});

  return {
    started: first.then((v) => v.waitFor(/acked [1-9]/, 120_000)).then(() => undefined),
    async stop() {
      stopping = true;
      const v = current;
      if (v) await v.stop().catch(() => undefined);
      const { final, error } = await loop;
      await sampler;
      const writes = results.filter((r) => r.mode === 'write');
      const sum = (f: (r: VerifierResult) => number) => writes.reduce((n, r) => n + f(r), 0);
      return {
        runs: results.length,
        acked: sum((r) => r.acked_writes),
        inDoubt: sum((r) => r.in_doubt_writes),
        reconnects: sum((r) => r.reconnects),
        lost: final.lost,
        stale: final.stale,
        giveUps,
        final,
        ...(error ? { error } : {}),
        ms: Date.now() - t0,
      };
    },
    abort() {
      stopping = true;
      aborted = true;
      const pid = current?.pid;
      if (pid)
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
    },
  };
}

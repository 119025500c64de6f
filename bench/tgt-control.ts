/**
 * tgtd control: a tgtadm process per operation (the driver before) vs a request on tgtd's control
 * socket (src/adapters/tgt/tgt-control.ts, the driver now). Not part of run-all.ts.
 *
 *   node --import tsx bench/tgt-control.ts
 *   BENCH_TGT_SHOWS=200 BENCH_TGT_SERVES=50 BENCH_TGT_PORTALS=100 BENCH_TGT_ROUNDS=2 BENCH_TGT_RSS_MB=120 node --import tsx bench/tgt-control.ts
 *
 * 1. `show target` on one tgtd: N with tgtadm (execFile, as the driver ran it), N over the socket,
 *    interleaved in blocks; wall latency per op and CPU per op (this process + its reaped children).
 * 2. serve() of one portal (a fresh tgtd, file LUN, the default tuning: ~12 control operations) and a
 *    re-serve with a changed ACL on the running tgtd (show, delete target, configure: control alone),
 *    with the driver of before (TgtadmDriver below: the same tgtadm runs, argument for argument) and now.
 * 3. serve then unserve of P portals at once, before vs now: wall time, CPU.
 *
 * The agent is a ~120 MB process and fork() copies its page tables: this process is grown to that
 * resident size (BENCH_TGT_RSS_MB, default 120; touched buffers) so a tgtadm fork costs what it costs there.
 * Loopback portals 127.59.x.y, control ports 25900-25999; every tgtd is stopped through its socket
 * (targets with force, then the system) and by PID if it is still there.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { ExecError, run as exec } from '../src/adapters/exec.js';
import { type TargetSpec, TgtDriver, TgtError } from '../src/adapters/tgt/tgt.js';
import { type TgtRequest, request } from '../src/adapters/tgt/tgt-control.js';
import { load, log, onCleanup } from './lib/env.js';
import { cpuSeconds } from './lib/proc.js';
import { type Section, newSection } from './lib/report.js';
import { median, ms, percentile, ratio } from './lib/stats.js';

const SHOWS = Number(process.env.BENCH_TGT_SHOWS ?? 200);
const SERVES = Number(process.env.BENCH_TGT_SERVES ?? 50);
const PORTALS = Number(process.env.BENCH_TGT_PORTALS ?? 100);
const ROUNDS = Number(process.env.BENCH_TGT_ROUNDS ?? 2);
const RSS_MB = Number(process.env.BENCH_TGT_RSS_MB ?? 120);
const PORT_BASE = 25900;
const SHOW_PORT = 25999;

/** The driver of before: every control operation a tgtadm run, with the arguments it used to pass. */
export class TgtadmDriver extends TgtDriver {
  protected override async ctl(controlPort: number, req: TgtRequest): Promise<{ text: string }> {
    try {
      return { text: (await exec('tgtadm', tgtadmArgs(controlPort, req), { timeoutMs: 15_000 })).stdout };
    } catch (e) {
      if (e instanceof ExecError) throw new TgtError(e.stderr.trim().replace(/^tgtadm: /, ''));
      throw e;
    }
  }
}

const FLAG: Record<string, string> = {
  targetname: '-T',
  path: '-b',
  bstype: '--bstype',
  bsopts: '--bsopts',
  user: '--user',
  password: '--password',
  'initiator-address': '-I',
  'initiator-name': '-Q',
};

/** The tgtadm command line that sends req (as TgtDriver built them before tgt-control.ts). */
export function tgtadmArgs(controlPort: number, req: TgtRequest): string[] {
  const a = ['-C', String(controlPort)];
  if (req.lld) a.push('--lld', req.lld);
  a.push('--op', req.op, '--mode', req.mode === 'system' ? 'sys' : req.mode);
  if (req.tid !== undefined) a.push('--tid', String(req.tid));
  if (req.lun !== undefined) a.push('--lun', String(req.lun));
  const p = req.params;
  if (typeof p === 'string') {
    if (p.startsWith('targetOps ')) a.push('--params', p.slice('targetOps '.length, -1));
    else if (p !== '') throw new Error(`no tgtadm form for ${p}`);
  } else if (p) {
    for (const [k, v] of Object.entries(p)) {
      const flag = FLAG[k];
      if (flag) a.push(flag, v);
      else a.push('--name', k, '--value', v);
    }
  }
  if (req.force) a.push('--force');
  return a;
}

// ---- measuring -----------------------------------------------------------------------------------

interface Cpu {
  self: number;
  children: number;
}
/** CPU seconds of this process (process.cpuUsage) and of its reaped children (/proc cutime+cstime). */
function cpuNow(): Cpu {
  const u = process.cpuUsage();
  return { self: (u.user + u.system) / 1e6, children: cpuSeconds(process.pid)?.children ?? Number.NaN };
}
const cpuSince = (a: Cpu): Cpu => {
  const b = cpuNow();
  return { self: b.self - a.self, children: b.children - a.children };
};

/** CPU seconds of a live process (user + system). */
const procCpu = (pid: number): number => cpuSeconds(pid)?.self ?? 0;

function startTgtd(ip: string, controlPort: number, logDir: string): number {
  // The driver's command line (tgtd -f), detached, output to a log; stopped by stopTgtd.
  const fd = openSync(join(logDir, `tgtd-${ip}.log`), 'a');
  try {
    const child = spawn('tgtd', ['-f', '-C', String(controlPort), '--iscsi', `portal=${ip}:3260`], { detached: true, stdio: ['ignore', fd, fd] });
    child.once('error', (e) => log(`tgtd could not be started: ${e.message}`));
    child.unref();
    if (child.pid === undefined) throw new Error('tgtd did not start');
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

async function stopTgtd(pid: number, controlPort: number): Promise<void> {
  await request(controlPort, { lld: 'iscsi', mode: 'target', op: 'delete', tid: 1, force: true }).catch(() => {});
  await request(controlPort, { mode: 'system', op: 'delete' }).catch(() => {});
  try {
    process.kill(pid, 0);
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
  rmSync(`/var/run/tgtd/socket.${controlPort}`, { force: true });
  rmSync(`/var/run/tgtd/socket.${controlPort}.lock`, { force: true });
}

const perOp = (cpu: number, n: number) => ms((cpu * 1000) / n);

export async function run(): Promise<Section> {
  const sec = newSection('tgt-control', 'tgtd control: tgtadm process per operation vs the control socket');
  const ballast: Buffer[] = [];
  const ballastMb = Math.max(0, Math.round(RSS_MB - process.memoryUsage().rss / 1024 / 1024));
  for (let i = 0; i < ballastMb; i++) ballast.push(Buffer.alloc(1024 * 1024, (i & 0xfe) + 1));
  const rss = process.memoryUsage().rss;
  const dir = mkdtempSync(join(tmpdir(), 'pw-bench-tgtctl-'));
  const cleanDir = onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const img = join(dir, 'disk.img');
  writeFileSync(img, '');
  truncateSync(img, 64 * 1024 * 1024);
  const loads = [load()];
  log(`tgt-control: ${loads[0]}, this process ${(rss / 1024 / 1024).toFixed(0)} MB RSS`);

  // ---- 1. show --------------------------------------------------------------------------------
  {
    const pid = startTgtd('127.59.99.1', SHOW_PORT, dir);
    const stop = onCleanup(() => stopTgtd(pid, SHOW_PORT));
    for (let i = 0; i < 400; i++) {
      if (
        await request(SHOW_PORT, { mode: 'system', op: 'show' }).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const lld = 'iscsi';
    await request(SHOW_PORT, { lld, mode: 'target', op: 'new', tid: 1, params: { targetname: 'iqn.2016-05.io.portway.bench:show' } });
    await request(SHOW_PORT, { lld, mode: 'logicalunit', op: 'new', tid: 1, lun: 1, params: { path: img, bstype: 'rdwr' } });
    await request(SHOW_PORT, { lld, mode: 'target', op: 'bind', tid: 1, params: { 'initiator-address': 'ALL' } });
    const show: TgtRequest = { lld, mode: 'target', op: 'show' };
    const variants = {
      tgtadm: async () => (await exec('tgtadm', tgtadmArgs(SHOW_PORT, show), { timeoutMs: 15_000 })).stdout,
      socket: async () => (await request(SHOW_PORT, show)).text,
    };
    if ((await variants.tgtadm()) !== (await variants.socket())) throw new Error('tgtadm and the socket client show different text');
    const lat = { tgtadm: [] as number[], socket: [] as number[] };
    const cpu = { tgtadm: { self: 0, children: 0 }, socket: { self: 0, children: 0 } };
    const tgtdCpu = { tgtadm: 0, socket: 0 };
    const block = 25;
    for (let done = 0; done < SHOWS; done += block) {
      for (const v of ['tgtadm', 'socket'] as const) {
        const c0 = cpuNow();
        const d0 = procCpu(pid);
        for (let i = 0; i < Math.min(block, SHOWS - done); i++) {
          const t0 = performance.now();
          await variants[v]();
          lat[v].push(performance.now() - t0);
        }
        const c = cpuSince(c0);
        cpu[v].self += c.self;
        cpu[v].children += c.children;
        tgtdCpu[v] += procCpu(pid) - d0;
      }
    }
    await stop();
    const n = SHOWS;
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    sec.tables.push({
      title: `\`show target\` on one tgtd, ${n} each (blocks of ${block}, interleaved)`,
      head: ['how', 'p50', 'p90', 'CPU/op here', 'CPU/op children', 'CPU/op total', 'tgtd CPU/op'],
      rows: (['tgtadm', 'socket'] as const).map((v) => [
        v === 'tgtadm' ? 'tgtadm (execFile)' : 'socket (tgt-control)',
        ms(median(lat[v])),
        ms(percentile(sorted(lat[v]), 90)),
        perOp(cpu[v].self, n),
        perOp(cpu[v].children, n),
        perOp(cpu[v].self + cpu[v].children, n),
        perOp(tgtdCpu[v], n),
      ]),
    });
    const latR = median(lat.tgtadm) / median(lat.socket);
    const cpuR = (cpu.tgtadm.self + cpu.tgtadm.children) / (cpu.socket.self + cpu.socket.children);
    sec.headline.push(
      `show: p50 ${ms(median(lat.tgtadm))} with tgtadm, ${ms(median(lat.socket))} over the socket (${ratio(latR, 1)} faster); CPU per op ${perOp(cpu.tgtadm.self + cpu.tgtadm.children, n)} vs ${perOp(cpu.socket.self + cpu.socket.children, n)} (${ratio(cpuR, 1)} less)`,
    );
  }

  // ---- 2. serve of one portal, and a re-serve (control operations alone) -----------------------
  const spec = (i: number, acl = ''): TargetSpec => ({
    iqn: `iqn.2016-05.io.portway.bench:s${i}`,
    backing: { bstype: 'rdwr', path: img, bsopts: '' },
    acl,
    chapUser: '',
    chapPassword: '',
    serial: `s${i}`,
  });
  // One disk per portal here (one tgtd each, as before the one-tgtd-per-disk driver): disk ids 5 digits.
  const disk = (i: number) => String(i).padStart(5, '0');
  const quiet = pino({ level: 'silent' });
  const makeDriver = (v: 'tgtadm' | 'socket', name: string) => {
    const o = { runDir: join(dir, name, 'run'), logDir: join(dir, name, 'log'), controlPortBase: PORT_BASE, log: quiet };
    const d = v === 'tgtadm' ? new TgtadmDriver(o) : new TgtDriver(o);
    const stop = onCleanup(() => d.stopAll());
    return { d, stop };
  };
  {
    const serve = { tgtadm: [] as number[], socket: [] as number[] };
    const reserve = { tgtadm: [] as number[], socket: [] as number[] };
    const cpuServe = { tgtadm: { self: 0, children: 0 }, socket: { self: 0, children: 0 } };
    const cpuReserve = { tgtadm: { self: 0, children: 0 }, socket: { self: 0, children: 0 } };
    const drivers = { tgtadm: makeDriver('tgtadm', 'serve-tgtadm'), socket: makeDriver('socket', 'serve-socket') };
    for (let i = 0; i < SERVES; i++) {
      for (const v of (i % 2 ? ['socket', 'tgtadm'] : ['tgtadm', 'socket']) as ('tgtadm' | 'socket')[]) {
        const { d } = drivers[v];
        const ip = `127.59.${v === 'tgtadm' ? 1 : 2}.${(i % 250) + 1}`;
        let c0 = cpuNow();
        let t0 = performance.now();
        await d.serve(disk(i), spec(i), [ip]);
        serve[v].push(performance.now() - t0);
        let c = cpuSince(c0);
        cpuServe[v].self += c.self;
        cpuServe[v].children += c.children;
        c0 = cpuNow();
        t0 = performance.now();
        await d.serve(disk(i), spec(i, 'iqn.2016-05.io.portway.bench:host'), [ip]);
        reserve[v].push(performance.now() - t0);
        c = cpuSince(c0);
        cpuReserve[v].self += c.self;
        cpuReserve[v].children += c.children;
        await d.unserve(disk(i));
      }
    }
    await drivers.tgtadm.stop();
    await drivers.socket.stop();
    const row = (what: string, v: 'tgtadm' | 'socket', lat: number[], cpu: Cpu) => [
      what,
      v === 'tgtadm' ? 'tgtadm' : 'socket',
      ms(median(lat)),
      ms(
        percentile(
          [...lat].sort((a, b) => a - b),
          90,
        ),
      ),
      perOp(cpu.self, lat.length),
      perOp(cpu.children, lat.length),
      perOp(cpu.self + cpu.children, lat.length),
    ];
    sec.tables.push({
      title: `serve() of one portal (${SERVES} each, interleaved): a fresh tgtd + file LUN + default tuning; then a re-serve with a new ACL (show, delete, configure on the running tgtd)`,
      head: ['what', 'driver', 'p50', 'p90', 'CPU/serve here', 'CPU/serve children', 'CPU/serve total'],
      rows: [
        row('serve (new tgtd)', 'tgtadm', serve.tgtadm, cpuServe.tgtadm),
        row('serve (new tgtd)', 'socket', serve.socket, cpuServe.socket),
        row('re-serve (control only)', 'tgtadm', reserve.tgtadm, cpuReserve.tgtadm),
        row('re-serve (control only)', 'socket', reserve.socket, cpuReserve.socket),
      ],
    });
    const tot = (c: Cpu) => c.self + c.children;
    sec.headline.push(
      `serve of a portal: p50 ${ms(median(serve.tgtadm))} before, ${ms(median(serve.socket))} now (${ratio(median(serve.tgtadm) / median(serve.socket), 1)}); CPU per serve ${perOp(tot(cpuServe.tgtadm), SERVES)} vs ${perOp(tot(cpuServe.socket), SERVES)} (${ratio(tot(cpuServe.tgtadm) / tot(cpuServe.socket), 1)} less)`,
      `re-serve (control alone): p50 ${ms(median(reserve.tgtadm))} before, ${ms(median(reserve.socket))} now (${ratio(median(reserve.tgtadm) / median(reserve.socket), 1)}); CPU ${perOp(tot(cpuReserve.tgtadm), SERVES)} vs ${perOp(tot(cpuReserve.socket), SERVES)} (${ratio(tot(cpuReserve.tgtadm) / tot(cpuReserve.socket), 1)} less)`,
    );
  }

  // ---- 3. serve + unserve of P portals at once ---------------------------------------------------
  {
    const rows: (string | number)[][] = [];
    const results: Record<'tgtadm' | 'socket', { serve: number[]; unserve: number[]; cpuServe: number[]; cpuUnserve: number[] }> = {
      tgtadm: { serve: [], unserve: [], cpuServe: [], cpuUnserve: [] },
      socket: { serve: [], unserve: [], cpuServe: [], cpuUnserve: [] },
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of (r % 2 ? ['socket', 'tgtadm'] : ['tgtadm', 'socket']) as ('tgtadm' | 'socket')[]) {
        const { d, stop } = makeDriver(v, `many-${v}-${r}`);
        const ips = Array.from({ length: PORTALS }, (_, i) => `127.59.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`);
        log(`tgt-control: ${PORTALS} portals, ${v}, round ${r + 1}/${ROUNDS} (${load()})`);
        const c0 = cpuNow();
        const t0 = performance.now();
        await Promise.all(ips.map((ip, i) => d.serve(disk(1000 + i), spec(1000 + i), [ip])));
        const serveS = (performance.now() - t0) / 1000;
        const cServe = cpuSince(c0);
        // tgtds are reaped (counted in children) when they exit at unserve: taken out again below.
        const tgtds = (await d.units()).map((u) => u.pid);
        const tgtdCpu = tgtds.reduce((a, pid) => a + procCpu(pid), 0);
        const c1 = cpuNow();
        const t1 = performance.now();
        await Promise.all(ips.map((_, i) => d.unserve(disk(1000 + i))));
        const unserveS = (performance.now() - t1) / 1000;
        const cUn = cpuSince(c1);
        await stop();
        const childrenUn = Math.max(0, cUn.children - tgtdCpu);
        results[v].serve.push(serveS);
        results[v].unserve.push(unserveS);
        results[v].cpuServe.push(cServe.self + cServe.children);
        results[v].cpuUnserve.push(cUn.self + childrenUn);
        rows.push([
          `${r + 1}`,
          v,
          `${serveS.toFixed(2)} s`,
          `${(PORTALS / serveS).toFixed(1)}/s`,
          `${unserveS.toFixed(2)} s`,
          `${cServe.self.toFixed(2)} + ${cServe.children.toFixed(2)} s`,
          `${cUn.self.toFixed(2)} + ${childrenUn.toFixed(2)} s`,
        ]);
      }
    }
    sec.tables.push({
      title: `serve then unserve of ${PORTALS} portals at once (file LUNs, default tuning), ${ROUNDS} round(s), order alternated`,
      head: ['round', 'driver', 'serve all', 'portals/s', 'unserve all', 'CPU serve (here + children)', 'CPU unserve (here + children)'],
      rows,
    });
    const m = (v: 'tgtadm' | 'socket', k: 'serve' | 'unserve' | 'cpuServe' | 'cpuUnserve') => median(results[v][k]);
    sec.headline.push(
      `${PORTALS} portals at once: serve ${m('tgtadm', 'serve').toFixed(1)} s before, ${m('socket', 'serve').toFixed(1)} s now (${ratio(m('tgtadm', 'serve') / m('socket', 'serve'), 1)}), CPU ${m('tgtadm', 'cpuServe').toFixed(1)} s vs ${m('socket', 'cpuServe').toFixed(1)} s (${ratio(m('tgtadm', 'cpuServe') / m('socket', 'cpuServe'), 1)} less); unserve ${m('tgtadm', 'unserve').toFixed(1)} s vs ${m('socket', 'unserve').toFixed(1)} s (${ratio(m('tgtadm', 'unserve') / m('socket', 'unserve'), 1)}), CPU ${m('tgtadm', 'cpuUnserve').toFixed(1)} s vs ${m('socket', 'cpuUnserve').toFixed(1)} s`,
    );
  }

  loads.push(load());
  sec.notes.push(
    `Machine load at start / end: ${loads.join(' / ')}. Figures are medians on a shared 2-CPU box: other work ran meanwhile.`,
    `This process was grown by ${ballastMb} MB of touched buffers to ${(rss / 1024 / 1024).toFixed(0)} MB RSS, about the agent's size: forking tgtadm copies the page tables of the process that forks.`,
    '"children" is CPU of reaped child processes (/proc cutime+cstime, 10 ms ticks): the tgtadm runs. At unserve the tgtds exit and are reaped too: their CPU read from /proc just before is subtracted, but what they spend deleting the target and exiting is not; the socket driver runs no child process, so its unserve "children" figure is that remainder (about the same in both rows).',
    'Before = TgtadmDriver (this file): TgtDriver with every control request sent as the tgtadm run it used to be, argument for argument. Now = TgtDriver (src/adapters/tgt/tgt-control.ts).',
    'A serve with a new tgtd is mostly the tgtd start (spawn, backing-store modules, listening): the re-serve row shows the control operations alone.',
  );
  await cleanDir();
  ballast.length = 0;
  return sec;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { standalone } = await import('./lib/standalone.js');
  await standalone(() => run(), { etcd: false, ceph: false });
}

/**
 * The data path: 4 KiB random read/write IOPS and 1 MiB sequential MB/s through Portway's iSCSI
 * target (tgtd + tgt's rbd backing store) compared with librbd straight to the same RBD image.
 *
 *   direct   `rbd bench` (librbd, the figure the issue asks to compare with), and `qemu-img bench` on
 *            rbd:pool/image (the same client program as the gateway runs, only without the gateway)
 *   gateway  `qemu-img bench` on iscsi://IP/IQN/1 (libiscsi) through the product's own tgtd (tuned:
 *            DEFAULT_TGT_TUNING) and through a tgtd served by a TgtDriver with UNTUNED settings (the
 *            settings before tuning); reads also with `iscsi-perf` (libiscsi-bin).
 * Debian's fio has no libiscsi engine (`fio --enghelp`), so fio is not used here.
 * Same image, one client at a time, runs interleaved (direct, untuned, tuned, ...) for `rounds` rounds
 * so a busy neighbour slows all of them alike; each figure is the median over the rounds.
 * Random I/O of qemu-img bench is a fixed prime stride (7919 blocks) over the whole image: every request
 * lands on another 4 MiB RBD object, like random I/O, and the whole image is covered.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { run as exec } from '../src/adapters/exec.js';
import { TgtDriver, type TgtTuning, DEFAULT_TGT_TUNING, UNTUNED } from '../src/adapters/tgt/tgt.js';
import { commandExists } from '../test/helpers/services.js';
import { type BenchContext, clearEtcd } from './lib/context.js';
import { QUICK, load, log, onCleanup, size } from './lib/env.js';
import { cpuSeconds, runFor } from './lib/proc.js';
import { addBody, http, startBenchProduct } from './lib/product.js';
import { type Section, newSection } from './lib/report.js';
import { median, num, ratio } from './lib/stats.js';

interface Workload {
  id: string;
  label: string;
  io: 'read' | 'write';
  pattern: 'rand' | 'seq';
  bs: number;
  qd: number;
}

const KiB = 1024;
const MiB = 1024 * 1024;
const WORKLOADS: Workload[] = [
  { id: 'randread', label: '4 KiB random read, QD 32', io: 'read', pattern: 'rand', bs: 4 * KiB, qd: 32 },
  { id: 'randwrite', label: '4 KiB random write, QD 32', io: 'write', pattern: 'rand', bs: 4 * KiB, qd: 32 },
  { id: 'seqread', label: '1 MiB sequential read, QD 8', io: 'read', pattern: 'seq', bs: MiB, qd: 8 },
  { id: 'seqwrite', label: '1 MiB sequential write, QD 8', io: 'write', pattern: 'seq', bs: MiB, qd: 8 },
];
const STRIDE_BLOCKS = 7919;
const INITIATOR = 'iqn.2016-05.io.portway.bench:initiator';

const TOOLS = ['rbd', 'qemu-img', 'iscsi-perf', 'iscsi-readcapacity16', 'tgtd', 'tgtadm'];
const DIRECT = 'rbd bench (rbd cache off)';
const BEFORE = 'before: tgt defaults, rbd cache off';
const AFTER = 'after: tuned (the product)';

interface Ceph {
  conf: string;
  keyring: string;
  id: string;
  pool: string;
}

function rbdArgs(c: Ceph): string[] {
  return ['-c', c.conf, '--id', c.id, '--keyring', c.keyring];
}

/** One run: IOPS, and CPU spent per I/O by the client program and (through a gateway) by tgtd. */
interface Measure {
  iops: number;
  /** CPU ms per I/O of the client (rbd / qemu-img / iscsi-perf: librbd or libiscsi included). */
  clientCpu: number;
  /** CPU ms per I/O of the gateway's tgtd (all its threads, librbd included); NaN for direct runs. */
  tgtdCpu: number;
}

/** CPU seconds of this process's finished children, and of a tgtd. */
function cpuMark(tgtdPid?: number): { children: number; tgtd: number } {
  return {
    children: cpuSeconds(process.pid)?.children ?? Number.NaN,
    tgtd: tgtdPid ? (cpuSeconds(tgtdPid)?.self ?? Number.NaN) : Number.NaN,
  };
}

function measure(a: { children: number; tgtd: number }, b: { children: number; tgtd: number }, ops: number, iops: number): Measure {
  return { iops, clientCpu: ((b.children - a.children) * 1000) / ops, tgtdCpu: ((b.tgtd - a.tgtd) * 1000) / ops };
}

/** `rbd bench` over `seconds`, from its per-second progress lines (the first second left out of IOPS). */
async function rbdBench(c: Ceph, image: string, w: Workload, seconds: number, cache: boolean): Promise<Measure> {
  const points: { sec: number; ops: number }[] = [];
  let summary: { ops: number; iops: number } | undefined;
  const args = [
    ...rbdArgs(c),
    ...(cache ? [] : ['--rbd_cache=false']),
    'bench',
    '--io-type',
    w.io,
    '--io-pattern',
    w.pattern,
    '--io-size',
    String(w.bs),
    '--io-threads',
    String(w.qd),
    '--io-total',
    String(64 * 1024 * MiB),
    `${c.pool}/${image}`,
  ];
  const m0 = cpuMark();
  const r = await runFor('rbd', args, seconds + 1, {
    onLine: (line) => {
      const m = /^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+[\d.]+\s*\S*\/s\s*$/.exec(line);
      if (m) points.push({ sec: Number(m[1]), ops: Number(m[2]) });
      const e = /elapsed:\s*(\d+)\s+ops:\s*(\d+)\s+ops\/sec:\s*([\d.]+)/.exec(line);
      if (e) summary = { ops: Number(e[2]), iops: Number(e[3]) };
    },
  });
  const m1 = cpuMark();
  if (summary) return measure(m0, m1, summary.ops, summary.iops);
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last || last.sec === first.sec) throw new Error(`rbd bench printed no progress: ${r.stderr.slice(-300)}`);
  return measure(m0, m1, last.ops, (last.ops - first.ops) / (last.sec - first.sec));
}

/** `qemu-img bench` on a target (iscsi:// URL or rbd: spec) for about `seconds` (count calibrated first). */
async function qemuBench(target: string, w: Workload, seconds: number, tgtdPid?: number): Promise<Measure> {
  const once = async (count: number): Promise<Measure> => {
    const args = ['bench', '-f', 'raw', '-t', 'none', '-d', String(w.qd), '-s', String(w.bs), '-c', String(count)];
    if (w.io === 'write') args.push('-w');
    if (w.pattern === 'rand') args.push('-S', String(w.bs * STRIDE_BLOCKS));
    args.push(target);
    const m0 = cpuMark(tgtdPid);
    const { stdout } = await exec('qemu-img', args, { timeoutMs: (seconds * 6 + 60) * 1000 });
    const m1 = cpuMark(tgtdPid);
    const m = /Run completed in ([\d.]+) seconds/.exec(stdout);
    if (!m) throw new Error(`qemu-img bench: no result in ${stdout.slice(0, 300)}`);
    return measure(m0, m1, count, count / Number(m[1]));
  };
  const probe = await once(w.qd * (w.bs >= MiB ? 8 : 64));
  const count = Math.max(w.qd * 8, Math.round(probe.iops * seconds));
  return once(count);
}

/** iscsi-perf (reads only) over `seconds`: its last "iops average". */
async function iscsiPerf(url: string, w: Workload, seconds: number, blockSize: number, tgtdPid?: number): Promise<Measure> {
  let avg: number | undefined;
  const args = ['-i', INITIATOR, '-m', String(w.qd), '-b', String(w.bs / blockSize)];
  if (w.pattern === 'rand') args.push('-r');
  args.push(url);
  const m0 = cpuMark(tgtdPid);
  const r = await runFor('iscsi-perf', args, seconds, {
    onLine: (line) => {
      for (const m of line.matchAll(/iops average (\d+)/g)) avg = Number(m[1]);
    },
  });
  const m1 = cpuMark(tgtdPid);
  if (avg === undefined) throw new Error(`iscsi-perf: no result: ${(r.stdout + r.stderr).slice(-300)}`);
  return measure(m0, m1, avg * r.seconds, avg);
}

async function blockSizeOf(url: string): Promise<number> {
  const { stdout } = await exec('iscsi-readcapacity16', ['-i', INITIATOR, url], { timeoutMs: 15_000 });
  const m = /Logical block length:\s*(\d+)/i.exec(stdout);
  return m ? Number(m[1]) : 512;
}

const lun = (ip: string, iqn: string) => `iscsi://${ip}/${iqn}/1`;

function tuningText(t: TgtTuning): string {
  const parts: string[] = [];
  parts.push(`tgtd -t ${t.rbdIoThreads ?? '16 (default)'}`);
  parts.push(t.rbdClientArgs?.length ? `CEPH_ARGS ${t.rbdClientArgs.join(' ')}` : 'librbd defaults (rbd cache on)');
  const p = Object.entries(t.targetParams ?? {});
  parts.push(p.length ? p.map(([k, v]) => `${k}=${v}`).join(', ') : 'tgt session defaults (8 KiB PDUs, InitialR2T=Yes, 64 KiB first burst, 256 KiB bursts)');
  return parts.join('; ');
}

export async function run(ctx: BenchContext): Promise<Section> {
  const sec = newSection('datapath', 'Data path: iSCSI gateway vs librbd on the same RBD image');
  const missing = TOOLS.filter((t) => !commandExists(t));
  if (!ctx.ceph || !ctx.etcd || missing.length) {
    sec.status = 'skipped';
    sec.notes.push(`skipped: ${missing.length ? `missing ${missing.join(', ')}` : (ctx.cephMissing ?? ctx.etcdMissing ?? 'Ceph or etcd not running')}`);
    return sec;
  }
  const ceph = ctx.ceph;
  const seconds = size(4, 2);
  const rounds = size(2, 1);
  const imageGb = 1;

  // The gateways besides the product's own (tuned) tgtd. "before" is the reference for the tuning: tgt's
  // defaults with librbd's cache off. The cache is off in "before" too because with it on, tgtd acks
  // writes from a writeback cache as soon as an initiator has sent one SYNCHRONIZE CACHE (librbd's
  // writethrough-until-flush), which a gateway must not do: shown once, as "tgt + librbd defaults".
  const NO_CACHE = ['--rbd_cache=false'];
  const others: { name: string; tuning: TgtTuning; reads: boolean; writes: boolean; perf: boolean }[] = [
    { name: BEFORE, tuning: { rbdClientArgs: NO_CACHE }, reads: true, writes: true, perf: true },
    { name: 'tgt + librbd defaults (rbd cache on)', tuning: UNTUNED, reads: false, writes: true, perf: false },
  ];
  // One setting at a time over "before", to tell which does what (BENCH_TUNE=1).
  if (process.env.BENCH_TUNE === '1') {
    const t = DEFAULT_TGT_TUNING;
    // BENCH_TUNE_THREADS=8,32,64: the tgtd -t values to try
    for (const threads of (process.env.BENCH_TUNE_THREADS ?? '8,32,64').split(',').filter(Boolean).map(Number))
      others.push({
        name: `before + -t ${threads}`,
        tuning: { rbdClientArgs: NO_CACHE, rbdIoThreads: threads },
        reads: true,
        writes: true,
        perf: false,
      });
    others.push(
      {
        name: 'before + session params',
        tuning: { rbdClientArgs: NO_CACHE, targetParams: t.targetParams ?? {} },
        reads: true,
        writes: true,
        perf: false,
      },
      {
        // librbd hands each request to another thread by default; tgt's I/O threads wait for it anyway
        name: 'before + rbd_non_blocking_aio=false',
        tuning: { rbdClientArgs: [...NO_CACHE, '--rbd_non_blocking_aio=false'] },
        reads: true,
        writes: true,
        perf: false,
      },
    );
  }

  await clearEtcd(ctx.etcd.endpoints);
  const bp = await startBenchProduct(58, {
    images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
    coord: { kind: 'etcd', endpoints: ctx.etcd.endpoints },
  });
  const driverDir = mkdtempSync(join(tmpdir(), 'portway-bench-tgt-'));
  const drivers: TgtDriver[] = [];
  const stopDrivers = onCleanup(async () => {
    for (const d of drivers) await d.stopAll().catch(() => undefined);
    rmSync(driverDir, { recursive: true, force: true });
  });
  try {
    // A disk through the product, served by its agent: 1 path.
    const add = await http(bp.url, 'POST', '/api/v1/disks', addBody('datapath', { sizeGb: imageGb, activePaths: 1 }));
    if (add.status !== 201) throw new Error(`add: ${add.status} ${JSON.stringify(add.json).slice(0, 300)}`);
    const id = add.json.disk.id as string;
    const iqn = add.json.disk.iqn as string;
    const image = `image-${id}`;
    const t0 = Date.now();
    for (;;) {
      const d = await http(bp.url, 'GET', `/api/v1/disks/${id}`);
      if (d.json?.disk?.status === 'started') break;
      if (Date.now() - t0 > 60_000) throw new Error('the data-path disk did not start within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const paths = await http(bp.url, 'GET', `/api/v1/disks/${id}/paths`);
    const productIp = paths.json.paths[0].ip as string;

    // Fill the image so reads hit real objects (a never-written RBD object reads as zeros for free).
    const tFill = Date.now();
    await exec(
      'rbd',
      [
        ...rbdArgs(ceph),
        'bench',
        '--io-type',
        'write',
        '--io-pattern',
        'seq',
        '--io-size',
        '4M',
        '--io-threads',
        '16',
        '--io-total',
        `${imageGb}G`,
        `${ceph.pool}/${image}`,
      ],
      { timeoutMs: 600_000 },
    );
    const fillS = (Date.now() - tFill) / 1000;
    log(`datapath: ${image} filled (${imageGb} GiB in ${fillS.toFixed(1)} s)`);

    // The gateways: the product's own tgtd (DEFAULT_TGT_TUNING), and one TgtDriver per other setting.
    const backing = bp.tp.product.images.backing(image);
    const gateways: { name: string; tuning: TgtTuning; url: string; reads: boolean; writes: boolean; perf: boolean }[] = [
      { name: AFTER, tuning: DEFAULT_TGT_TUNING, url: lun(productIp, iqn), reads: true, writes: true, perf: true },
    ];
    for (const [i, c] of others.entries()) {
      const d = new TgtDriver({
        runDir: join(driverDir, `run${i}`),
        logDir: join(driverDir, 'log'),
        controlPortBase: 20_000 + 59 * 100 + i * 10, // tgtd control ports are 0..32767; octet 59 as startTestProduct would
        log: pino({ level: 'silent' }),
        tuning: c.tuning,
      });
      drivers.push(d);
      const ip = `127.59.0.${10 + i}`;
      const tiqn = `iqn.2016-05.io.portway.bench:gw${i}`;
      const gwDisk = `9990${i}`;
      await d.serve(gwDisk, { iqn: tiqn, backing, acl: '', chapUser: '', chapPassword: '', serial: gwDisk }, [ip]);
      gateways.push({ ...c, url: lun(ip, tiqn) });
    }
    const blockSize = await blockSizeOf(gateways[0]?.url as string);
    const qemuRbd = `rbd:${ceph.pool}/${image}:id=${ceph.id}:conf=${ceph.conf}:keyring=${ceph.keyring}`;

    // The gateways' tgtd PIDs, for their CPU use.
    // The product's tgtd is recorded under the disk id (<run dir>/<disk>.json: one tgtd per disk).
    const productRun = join(bp.tp.settings.stateDir, 'run', 'tgt');
    const pidOf = async (i: number): Promise<number | undefined> => {
      if (i === 0) return JSON.parse(readFileSync(join(productRun, `${id}.json`), 'utf8')).pid as number;
      return (await (drivers[i - 1] as TgtDriver).units())[0]?.pid;
    };
    const pids = await Promise.all(gateways.map((_, i) => pidOf(i)));

    // results[workload][client] = one Measure per round
    const results = new Map<string, Map<string, Measure[]>>();
    const put = (w: string, client: string, v: Measure) => {
      const m = results.get(w) ?? new Map<string, Measure[]>();
      results.set(w, m);
      const l = m.get(client) ?? [];
      l.push(v);
      m.set(client, l);
    };
    for (let round = 1; round <= rounds; round++) {
      for (const w of WORKLOADS) {
        log(`datapath: round ${round}/${rounds}, ${w.label} (${load()})`);
        put(w.id, DIRECT, await rbdBench(ceph, image, w, seconds, false));
        if (w.io === 'write') put(w.id, 'rbd bench, librbd defaults (rbd cache on)', await rbdBench(ceph, image, w, seconds, true));
        put(w.id, 'qemu-img → librbd', await qemuBench(qemuRbd, w, seconds));
        for (const [i, g] of [...gateways.entries()].reverse()) {
          if (w.io === 'read' ? g.reads : g.writes) put(w.id, `qemu-img → iSCSI, ${g.name}`, await qemuBench(g.url, w, seconds, pids[i]));
        }
        if (w.io === 'read')
          for (const [i, g] of [...gateways.entries()].reverse())
            if (g.perf) put(w.id, `iscsi-perf → iSCSI, ${g.name}`, await iscsiPerf(g.url, w, seconds, blockSize, pids[i]));
      }
    }

    // ---- report ---------------------------------------------------------------------------------
    // Throughput: the best round (other processes on the machine only ever take some away).
    // CPU per I/O: the median round (it hardly depends on the load).
    const best = (v: Measure[]) => Math.max(...v.map((x) => x.iops));
    const cpu = (v: Measure[], k: 'clientCpu' | 'tgtdCpu') => median(v.map((x) => x[k]));
    const usPerOp = (msPerOp: number) => (Number.isFinite(msPerOp) ? `${num(msPerOp * 1000, 0)} µs` : '');
    const summary: (string | number)[][] = [];
    const fig = (w: Workload, iops: number) => (w.bs >= MiB ? `${num((iops * w.bs) / MiB, 0)} MiB/s` : `${num(iops, 0)} IOPS`);
    for (const w of WORKLOADS) {
      const m = results.get(w.id) as Map<string, Measure[]>;
      const direct = best(m.get(DIRECT) ?? []);
      const sameTool = best(m.get('qemu-img → librbd') ?? []);
      sec.tables.push({
        title: w.label,
        head: [
          'client → path',
          w.bs >= MiB ? 'MiB/s (best round)' : 'IOPS (best round)',
          'gateway / rbd bench',
          'gateway / qemu-img → librbd',
          'client CPU per I/O',
          'tgtd CPU per I/O',
          'all rounds',
        ],
        rows: [...m.entries()].map(([client, v]) => {
          const x = best(v);
          return [
            client,
            fig(w, x),
            client === DIRECT ? '' : ratio(x / direct),
            client.startsWith('qemu-img → iSCSI') ? ratio(x / sameTool) : '',
            usPerOp(cpu(v, 'clientCpu')),
            usPerOp(cpu(v, 'tgtdCpu')),
            v.map((y) => num(w.bs >= MiB ? (y.iops * w.bs) / MiB : y.iops)).join(' / '),
          ];
        }),
      });
      const after = m.get(`qemu-img → iSCSI, ${AFTER}`) ?? [];
      const before = m.get(`qemu-img → iSCSI, ${BEFORE}`) ?? [];
      summary.push([
        w.label,
        fig(w, direct),
        fig(w, best(before)),
        ratio(best(before) / direct),
        fig(w, best(after)),
        ratio(best(after) / direct),
        ratio(best(after) / best(before)),
        `${usPerOp(cpu(before, 'tgtdCpu'))} → ${usPerOp(cpu(after, 'tgtdCpu'))}`,
      ]);
      sec.headline.push(
        `${w.label}: gateway ${fig(w, best(after))} vs rbd bench ${fig(w, direct)}: ${ratio(best(after) / direct)} (before tuning ${ratio(best(before) / direct)})`,
      );
    }
    sec.tables.unshift({
      title: 'Summary: gateway (qemu-img bench over iSCSI) / direct (rbd bench, librbd cache off), before and after tuning',
      head: ['workload', 'direct', 'gateway before', 'ratio before', 'gateway after', 'ratio after', 'after / before', 'tgtd CPU per I/O before → after'],
      rows: summary,
    });
    sec.tables.push({
      title: 'Gateway settings compared',
      head: ['gateway', 'settings'],
      rows: gateways.map((g) => [g.name, tuningText(g.tuning)]),
    });
    sec.notes.push(
      `Image ${imageGb} GiB (filled first with rbd bench, ${fillS.toFixed(0)} s), pool size 1 on one bluestore OSD (a sparse file), everything on this machine: the OSD, the gateway and the client share ${'the'} CPUs, so the ratios say more than the absolute figures.`,
      `${seconds} s per run, ${rounds} round(s), interleaved; throughput is the best round (all rounds shown: a busy machine only ever takes throughput away), CPU per I/O the median round (user + system time of the client process, and of the gateway's tgtd with all its threads, per I/O: it hardly depends on the load). "direct" is rbd bench with --rbd_cache=false, the librbd setting the tuned gateway runs with (qemu-img -t none turns qemu's rbd cache off too). The rows "rbd cache on" show what librbd's default cache does to writes: after the first flush it is a writeback cache, which a gateway must not use (an acked write can die with the gateway, and another path's tgtd does not see it).`,
      'iscsi-perf only reads; writes through the gateway are measured with qemu-img bench over libiscsi.',
      `${QUICK ? 'BENCH_QUICK: short runs, one round.' : ''}`.trim(),
    );
    sec.notes = sec.notes.filter((n) => n !== '');
  } finally {
    await stopDrivers();
    await bp.stop();
    await clearEtcd(ctx.etcd.endpoints).catch(() => undefined);
  }
  return sec;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { standalone } = await import('./lib/standalone.js');
  await standalone(run, { etcd: true, ceph: true });
}

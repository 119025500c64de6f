/**
 * The iSCSI target driver on tgt (Debian `tgt`, `tgt-rbd`). A tgtd shows every target on every portal
 * it has, so every disk served on this node gets its own tgtd (`tgtd -f -C <n> --iscsi portal=IP:3260`)
 * serving one target (tid 1, the disk's IQN, LUN 1 backed by the image) on **every path IP of that disk
 * this node holds**: portals are added and removed at run time (`portal new|delete`) without touching
 * the sessions of the others. One tgtd per disk is one logical unit per disk on the node: SCSI-2
 * reservations, persistent reservations, unit attentions and LUN resets hold across all its paths.
 *
 * Each tgtd's pid, control port, portals and configured spec are recorded in `<runDir>/<disk id>.json`,
 * so a restarted agent adopts the daemons it left running instead of restarting them (no path flaps),
 * and removes those it no longer wants. Records of the one-tgtd-per-path layout before it
 * (`<runDir>/<ip>.json`, no disk id) are reported as legacy units: the agent stops them, and a portal
 * one of them holds is freed before a disk's tgtd takes it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isValidIqn } from '../../domain/validate.js';
import { isIp } from '../../domain/ip.js';
import { KeyedMutex, Mutex, sleep } from '../../util/async.js';
import type { TargetBacking } from '../images/types.js';
import { TgtdLauncher } from './launcher.js';
import { TgtError, type TgtRequest, request as tgtRequest, targetOps } from './tgt-control.js';
import { parseShowPortals, parseShowTargets } from './tgt-show.js';
import type { TargetDriver, TargetSpec, TargetUnit } from './types.js';

export { TgtError };
export type { TargetDriver, TargetSpec, TargetUnit };

/** A tgtd's record (`<runDir>/<disk>.json`). */
export interface UnitState {
  /** The disk it serves; '' in a record of the one-tgtd-per-path layout before it (legacy). */
  disk: string;
  /** The portal IP tgtd was started with (on its command line: how its process is recognised). */
  ip: string;
  /** Every portal IP it serves now. */
  portals: string[];
  pid: number;
  controlPort: number;
  specHash: string;
  /** Hash of the spec without its size: a target differing only by it has its LUN re-read in place (grow). */
  baseHash?: string;
  iqn: string;
  /** The port of the portal on its command line when not the iSCSI port (a warm tgtd's placeholder). */
  launchPort?: number;
  /** An idle tgtd of the warm pool (no disk yet), started for a backing store of this type. */
  warm?: 'rdwr' | 'rbd';
}

const DISK_ID = /^\d{5}$/;
/** A unit's key: its disk id, `warm:<control port>` for an idle tgtd of the pool, or `ip:<ip>` for a legacy record. */
const unitKey = (s: { disk: string; ip: string; controlPort: number; warm?: string }): string => (s.warm ? `warm:${s.controlPort}` : s.disk || `ip:${s.ip}`);
/** The warm pool refills only this long after the last take or start by a serve, one tgtd per REFILL_GAP_MS at most. */
const REFILL_QUIET_MS = 2000;
/** How long a launched tgtd may take to take its control port's lock. */
const START_TIMEOUT_MS = 10_000;
const REFILL_GAP_MS = 100;
/** A warm tgtd's placeholder portal: 127.0.0.1 on a port of its own (control ports are 0..32767). */
const WARM_IP = '127.0.0.1';
const warmPort = (controlPort: number): number => 32768 + controlPort;

/**
 * Data-path settings of the tgtds this driver starts (bench/datapath.ts measures them; see
 * bench/RESULTS.md). They apply to tgtds started, and targets configured, after a change.
 */
export interface TgtTuning {
  /**
   * tgtd -t, for tgtds serving an RBD image: tgt's rbd backing store calls librbd synchronously, one
   * request per I/O thread, so this caps the requests in flight to Ceph per LUN. undefined: tgtd's
   * default (16).
   */
  rbdIoThreads?: number;
  /**
   * librbd settings for tgtds serving an RBD image, given to tgtd as CEPH_ARGS (librados reads it at
   * connect and it takes precedence over ceph.conf; tgt's bsopts accept no librbd option).
   */
  rbdClientArgs?: string[];
  /** iSCSI session parameters of every target (one `update target` request each, as tgtadm --name K --value V). */
  targetParams?: Record<string, string>;
}

/** What tgtd and tgtadm do when told nothing (the settings before tuning). */
export const UNTUNED: TgtTuning = {};

/** The driver's default: measured in bench/datapath.ts (before/after in bench/RESULTS.md). */
export const DEFAULT_TGT_TUNING: TgtTuning = {
  // 2x tgtd's 16: a queue depth of 32 reaches Ceph (random writes +10-15% over 16 in the sweep);
  // 64 measured no faster at QD 32 and a little more CPU per I/O.
  rbdIoThreads: 32,
  rbdClientArgs: [
    // Every path of a disk is another librbd client, on another node: a cache in one tgtd could serve a
    // block another path has since written, and librbd's default cache turns writeback after the first
    // flush (a write acked, not stored). Off.
    '--rbd_cache=false',
    // tgt's I/O threads call librbd synchronously: handing each request to librbd's own thread first is
    // one more thread switch per I/O (off: 4 KiB random I/O +10-20%, tgtd CPU per I/O -10%).
    '--rbd_non_blocking_aio=false',
  ],
  // tgt defaults to 8 KiB data PDUs, InitialR2T=Yes and 256 KiB bursts: a 1 MiB write took 4 R2T
  // round trips and 128 PDUs. Bigger PDUs and unsolicited data: tgtd CPU per 1 MiB write -35-40%.
  targetParams: {
    MaxRecvDataSegmentLength: '262144',
    MaxXmitDataSegmentLength: '262144',
    FirstBurstLength: '262144',
    MaxBurstLength: '1048576',
    InitialR2T: 'No',
  },
};

/**
 * What tgtd (1.0.x, usr/iscsi/target.c iscsi_target_create) gives every new target's session
 * parameters: a tuning value equal to one of these needs no control request.
 */
const TGTD_SESSION_DEFAULTS: Readonly<Record<string, string>> = {
  MaxRecvDataSegmentLength: '8192',
  MaxXmitDataSegmentLength: '8192',
  HeaderDigest: 'None',
  DataDigest: 'None',
  InitialR2T: 'Yes',
  MaxOutstandingR2T: '1',
  ImmediateData: 'Yes',
  FirstBurstLength: '65536',
  MaxBurstLength: '262144',
  DataPDUInOrder: 'Yes',
  DataSequenceInOrder: 'Yes',
  ErrorRecoveryLevel: '0',
  DefaultTime2Wait: '2',
  DefaultTime2Retain: '20',
  MaxConnections: '1',
};

export function isTgtdSessionDefault(name: string, value: string): boolean {
  const d = TGTD_SESSION_DEFAULTS[name];
  return d !== undefined && d.toLowerCase() === value.trim().toLowerCase();
}

export interface TgtDriverOptions {
  runDir: string;
  logDir: string;
  /** First tgtd control port (-C) this driver may use; pick a different base per instance. */
  controlPortBase: number;
  log: Logger;
  tgtd?: string;
  /** tgtd's control sockets (Debian: /var/run/tgtd/socket.N). */
  socketDir?: string;
  iscsiPort?: number;
  /** Data-path settings; DEFAULT_TGT_TUNING when left out. */
  tuning?: TgtTuning;
  /** nice value tgtds run at when the agent runs at a raised priority (undefined: inherited). */
  tgtdNice?: () => number | undefined;
}

/** The target id of a spec: the disk's own (see TargetSpec.tid); 1 for disks made before it existed. */
const tidOf = (spec: TargetSpec): number => spec.tid ?? 1;
/** Each request to a tgtd's control socket (connect, request, answer). */
const CONTROL_TIMEOUT_MS = 15_000;

/**
 * How long serve() trusts a target it configured or checked (same tgtd, same spec) before asking tgtd
 * again. A crashed tgtd is seen at once (pid and cmdline are checked on every call); this only bounds
 * how long a target deleted behind Portway's back inside a live tgtd goes unnoticed. Each check is one
 * request on the tgtd's control socket (~1 ms; 1,000 portals: ~17 requests/s). It was a tgtadm process
 * forked from the agent, which made 1,000 portals cost ~0.9 CPU at rest and this was 10 min then.
 */
const VERIFY_EVERY_MS = 60_000;

function hashSpec(spec: TargetSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 32);
}

/** The hash of everything in the spec but the image's size. */
function baseHashOf(spec: TargetSpec): string {
  const { sizeGb: _size, ...rest } = spec;
  return hashSpec(rest);
}

/**
 * How long a target re-reading its grown LUN answers new commands BUSY before the LUN is re-opened, so
 * commands already at the backing store finish first (tgtd cannot say how many are in flight).
 */
const GROW_DRAIN_MS = 300;

/** Does something accept TCP connections on ip:port? */
function listening(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: ip, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** A process's command line (empty when it is gone). */
function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Is pid a running process? A zombie (exited, not yet reaped) is not. */
function alive(pid: number): boolean {
  return startTime(pid) !== undefined;
}

/**
 * The start time of a live, non-zombie process (field 22 of /proc/<pid>/stat, clock ticks since boot):
 * with the pid it names one process for good (a recycled pid has another start time).
 */
function startTime(pid: number): string | undefined {
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // after the command name in parentheses: field 3 (state) ... field 22 (starttime)
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[0] === 'Z' ? undefined : rest[19];
  } catch {
    return undefined;
  }
}

/**
 * /proc/locks as last read: `<major>:<minor>:<inode>` of each POSIX lock -> the pids holding it, in the
 * file's order. The kernel writes one line per lock of the whole host (every tgtd holds one), so a read
 * costs milliseconds with hundreds of tgtds: callers that poll or check many ports share one read.
 */
let lockTable: { at: number; holders: Map<string, number[]> } | undefined;

function locksAtMost(maxAgeMs: number): Map<string, number[]> {
  const t = performance.now();
  if (lockTable && maxAgeMs > 0 && t - lockTable.at <= maxAgeMs) return lockTable.holders;
  const holders = new Map<string, number[]>();
  let text = '';
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {}
  for (const line of text.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 1234 00:1a:5678 0 0"
    const m = /^\d+:\s+POSIX\s+\S+\s+\S+\s+(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m) continue;
    const key = `${Number.parseInt(m[2] as string, 16)}:${Number.parseInt(m[3] as string, 16)}:${m[4]}`;
    const list = holders.get(key);
    if (list) list.push(Number(m[1]));
    else holders.set(key, [Number(m[1])]);
  }
  lockTable = { at: t, holders };
  return holders;
}

/**
 * The pid holding the POSIX lock on a tgtd control port's lock file (`socket.<port>.lock`): tgtd takes
 * it with lockf() at start and holds it for its life, so the holder is the one process that owns the
 * port, whatever answers on the socket. undefined: no lock file, or nobody holds it. `maxAgeMs`: a
 * reading of /proc/locks at most that old will do (0: read it now).
 */
export function lockHolder(socketDir: string, controlPort: number, maxAgeMs = 0): number | undefined {
  let st: { ino: number; dev: number };
  try {
    st = statSync(join(socketDir, `socket.${controlPort}.lock`));
  } catch {
    return undefined;
  }
  const major = (st.dev >> 8) & 0xfff;
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
  for (const pid of locksAtMost(maxAgeMs).get(`${major}:${minor}:${st.ino}`) ?? []) if (alive(pid)) return pid;
  return undefined;
}

/**
 * Does `pid` hold the POSIX lock on a control port's lock file? Read from the process's own open files
 * (/proc/<pid>/fdinfo/<fd> lists the locks held through each), not from /proc/locks, which lists every
 * lock of the host: with hundreds of tgtds, reading and parsing that for each tgtd start or check was
 * quadratic in the disks of a node. True only when the lock is seen held by pid; undefined when this
 * cannot tell (no such lock seen, the process gone, a kernel without lock lines in fdinfo): the caller
 * then asks lockHolder.
 */
export function holdsPortLock(socketDir: string, controlPort: number, pid: number): true | undefined {
  let ino: number;
  try {
    ino = statSync(join(socketDir, `socket.${controlPort}.lock`)).ino;
  } catch {
    return undefined;
  }
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    let info: string;
    try {
      if (statSync(`/proc/${pid}/fd/${fd}`).ino !== ino) continue;
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    // "lock:\t1: POSIX  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
    for (const m of info.matchAll(/^lock:\s+\d+:\s+POSIX\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/gm))
      if (Number(m[1]) === pid && Number(m[2]) === ino) return true;
  }
  return undefined;
}

/**
 * tgtds of this network namespace whose portal (port `port`) has an IP `match` accepts and that are
 * not in `known` (no state file records them: left by a crash between spawn and record). Another
 * namespace's (another simulated node's) are not ours to judge.
 */
async function strayTgtds(match: (ip: string) => boolean, port: number, known: Set<number>): Promise<{ pid: number; ip: string }[]> {
  const myNet = await readlink('/proc/self/ns/net').catch(() => '');
  const out: { pid: number; ip: string }[] = [];
  const suffix = `:${port}`;
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d) || known.has(Number(d))) continue;
    try {
      const args = (await readFile(`/proc/${d}/cmdline`, 'utf8')).split('\0');
      if (!args[0]?.endsWith('tgtd')) continue;
      const portal = args.find((a) => a.startsWith('portal=') && a.endsWith(suffix));
      const ip = portal?.slice('portal='.length, -suffix.length);
      if (ip === undefined || !match(ip)) continue;
      if ((await readlink(`/proc/${d}/ns/net`)) !== myNet) continue;
      out.push({ pid: Number(d), ip });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * The control port a driver with this base tries first for a disk (tgtd takes ports 0..32767): the
 * disk's number hashed over the first 4,096 ports of the range (random for a unit without a number).
 */
export function firstControlPort(base: number, disk: string): number {
  const span = 32768 - base;
  if (span <= 0) throw new TgtError('no free tgtd control port');
  const id = Number(disk);
  const hash = Number.isSafeInteger(id) && id > 0 ? Math.imul(id, 2654435761) >>> 0 : Math.floor(Math.random() * 2 ** 32);
  return base + (hash % Math.min(span, 4096));
}

export class TgtDriver implements TargetDriver {
  private readonly tgtd: string;
  private readonly socketDir: string;
  private readonly port: number;
  private readonly tuning: TgtTuning;
  /** Serializes work per unit (disk id). */
  private readonly locks = new KeyedMutex();
  /** Units whose target was configured or seen configured: by which tgtd, with which spec, when. */
  private readonly verified = new Map<string, { pid: number; specHash: string; at: number }>();
  private closing = false;
  /** Serializes control-port picking and tgtd start across units. */
  private readonly startLock = new Mutex();
  /** The warm pool (warm()): how many idle tgtds to keep, for which backing store type. */
  private warmWant = 0;
  private warmKind: 'rdwr' | 'rbd' = 'rdwr';
  /** Keys of idle tgtds seen ready (answering on their control socket): only these are handed out. */
  private readonly warmReady = new Set<string>();
  private refilling = false;
  /** Starts tgtds, those of one event-loop turn together. */
  private readonly launcher: TgtdLauncher;
  /** tgtds launched and not yet recorded (killUnrecorded waits for them). */
  private launching = 0;
  /** One warm() at a time chooses what to stop. */
  private readonly poolLock = new Mutex();
  /** Idle tgtds being handed to a disk (takeWarm): never stopped as extra. */
  private readonly taking = new Set<string>();
  /** When a serve last took an idle tgtd or started one: the pool refills only after a quiet spell. */
  private lastBusy = 0;
  /** Serves waiting for a tgtd to start: the pool refills only when none waits. */
  private starting = 0;

  constructor(private readonly o: TgtDriverOptions) {
    this.tgtd = o.tgtd ?? 'tgtd';
    this.socketDir = o.socketDir ?? '/var/run/tgtd';
    this.port = o.iscsiPort ?? 3260;
    this.tuning = o.tuning ?? DEFAULT_TGT_TUNING;
    this.launcher = new TgtdLauncher(this.tgtd, join(o.logDir, 'tgtd.log'), o.log, o.tgtdNice);
  }

  private stateFile(s: UnitState): string {
    return join(this.o.runDir, `${s.warm ? `warm-${s.controlPort}` : s.disk || s.ip}.json`);
  }

  /**
   * Every unit's record: read from the run dir once, then kept in step with it (this driver is the
   * run dir's only writer). The agent asks about every unit every few seconds: with 1,000 paths,
   * reading the files each time was most of its CPU at rest.
   */
  private states: Map<string, UnitState> | undefined;

  private async loadStates(): Promise<Map<string, UnitState>> {
    if (this.states) return this.states;
    await mkdir(this.o.runDir, { recursive: true });
    const m = new Map<string, UnitState>();
    for (const f of await readdir(this.o.runDir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const raw = JSON.parse(await readFile(join(this.o.runDir, f), 'utf8')) as Partial<UnitState> | null;
        if (!raw || typeof raw.ip !== 'string' || !Number.isInteger(raw.pid) || !Number.isInteger(raw.controlPort)) continue;
        const disk = typeof raw.disk === 'string' && DISK_ID.test(raw.disk) ? raw.disk : '';
        const warm = raw.warm === 'rdwr' || raw.warm === 'rbd' ? raw.warm : undefined;
        if (`${warm ? `warm-${raw.controlPort}` : disk || raw.ip}.json` !== f) continue;
        const st: UnitState = {
          ...(warm ? { warm } : {}),
          ...(Number.isInteger(raw.launchPort) ? { launchPort: raw.launchPort as number } : {}),
          disk,
          ip: raw.ip,
          portals: Array.isArray(raw.portals) ? raw.portals.filter((x): x is string => typeof x === 'string' && isIp(x)) : [raw.ip],
          pid: raw.pid as number,
          controlPort: raw.controlPort as number,
          specHash: typeof raw.specHash === 'string' ? raw.specHash : '',
          ...(typeof raw.baseHash === 'string' ? { baseHash: raw.baseHash } : {}),
          iqn: typeof raw.iqn === 'string' ? raw.iqn : '',
        };
        m.set(unitKey(st), st);
      } catch {
        // unreadable (torn by a crash): no record
      }
    }
    this.states ??= m;
    return this.states;
  }

  private async writeState(s: UnitState): Promise<void> {
    const states = await this.loadStates();
    const f = this.stateFile(s);
    try {
      await writeFile(`${f}.tmp`, JSON.stringify(s));
      await rename(`${f}.tmp`, f);
    } catch (e) {
      // A torn temporary file (full filesystem) would only take more of the space that is missing.
      await rm(`${f}.tmp`, { force: true }).catch(() => {});
      throw e;
    }
    states.set(unitKey(s), s);
  }

  private async removeState(s: UnitState): Promise<void> {
    (await this.loadStates()).delete(unitKey(s));
    await unlink(this.stateFile(s)).catch(() => {});
  }

  /** pid -> `${start time} ${ip} ${control port}` of the tgtds whose command line was checked. */
  private readonly checked = new Map<number, string>();

  /** Is the unit's pid still the tgtd it records (started on its launch portal with its control port)? */
  private ours(s: UnitState): Promise<boolean> {
    return this.isOurTgtd(s.pid, s.ip, s.controlPort, s.launchPort);
  }

  /** Is pid our tgtd started on ip with this control port (and not a recycled pid)? */
  private async isOurTgtd(pid: number, ip: string, controlPort: number, port = this.port): Promise<boolean> {
    const start = startTime(pid);
    if (start === undefined) {
      this.checked.delete(pid);
      return false;
    }
    // The same process (pid and start time) as last checked: its command line has not changed.
    const id = `${start} ${ip}:${port} ${controlPort}`;
    if (this.checked.get(pid) === id) return true;
    try {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      const ours = args[0]?.endsWith('tgtd') === true && args.includes(String(controlPort)) && args.includes(`portal=${ip}:${port}`);
      if (ours) this.checked.set(pid, id);
      else this.checked.delete(pid);
      return ours;
    } catch {
      return false;
    }
  }

  /**
   * One request to the tgtd on controlPort, over its control socket (what tgtadm sends; no process
   * forked). Throws TgtError with tgtadm's message for an error tgtd reports.
   */
  protected ctl(controlPort: number, req: TgtRequest): Promise<{ text: string }> {
    return tgtRequest(controlPort, req, { socketDir: this.socketDir, timeoutMs: CONTROL_TIMEOUT_MS });
  }

  /**
   * Read-only look at a unit's tgtd for sessions.ts (connected initiators and I/O counters): the text of
   * `tgtadm --lld iscsi --op show|stat --mode target [--tid]`, asked on its control socket.
   */
  targetText(controlPort: number, op: 'show' | 'stat', tid?: number): Promise<string> {
    return this.ctl(controlPort, { mode: 'target', op, lld: 'iscsi', ...(tid === undefined ? {} : { tid }) }).then((r) => r.text);
  }

  /** Every unit recorded in the run dir, and whether its tgtd is alive. */
  async units(): Promise<TargetUnit[]> {
    const out: TargetUnit[] = [];
    for (const s of [...(await this.loadStates()).values()]) {
      if (s.warm) continue; // idle, serving nothing: the pool's own business (warm())
      out.push({
        key: unitKey(s),
        disk: s.disk,
        ip: s.ip,
        portals: [...s.portals],
        pid: s.pid,
        controlPort: s.controlPort,
        alive: await this.ours(s),
      });
    }
    return out;
  }

  /**
   * Control ports of the units recorded in the run dir: read from it once, then kept up to date
   * (reading every state file at every tgtd start made serving n disks cost n^2 file reads).
   */
  private portsInUse: Set<number> | undefined;
  /** Control ports found held by tgtds this driver did not start. */
  private readonly foreignPorts = new Set<number>();

  private async usedPorts(): Promise<Set<number>> {
    if (this.portsInUse) return this.portsInUse;
    const used = new Set<number>();
    for (const s of (await this.loadStates()).values()) used.add(s.controlPort);
    this.portsInUse = used;
    return used;
  }

  /** Does a live tgtd answer on this control port's socket? */
  private answers(cp: number): Promise<boolean> {
    return this.ctl(cp, { mode: 'system', op: 'show' }).then(
      () => true,
      () => false,
    );
  }

  /**
   * Picks a free control port and reserves it (call under startLock). The scan starts at a place of
   * its own per disk (its number hashed over the range): two nodes whose ranges overlap (nodes sharing
   * a socket dir, as simulated nodes do) then rarely try the same port for the disks they start at the
   * same moment after a failover, where a scan from the lowest port made them race for every one
   * (the loser's tgtd exits at start, and its disk waits for a retry).
   */
  private async pickControlPort(disk: string): Promise<number> {
    const used = await this.usedPorts();
    const base = this.o.controlPortBase;
    const span = 32768 - base;
    const first = firstControlPort(base, disk);
    for (let i = 0; i < span; i++) {
      const n = base + ((first - base + i) % span);
      if (used.has(n)) continue;
      // A socket of another tgtd (another instance, or the system's) that is alive: skip it, and
      // remember it (else every later start asks each such tgtd again).
      if (this.foreignPorts.has(n)) continue;
      // Held: a live tgtd holds the port's lock (another instance's, one that won a start race, the
      // system's), or answers on its socket. Never ours to take or to clean.
      if (lockHolder(this.socketDir, n) !== undefined || (existsSync(join(this.socketDir, `socket.${n}`)) && (await this.answers(n)))) {
        this.foreignPorts.add(n);
        continue;
      }
      used.add(n);
      return n;
    }
    throw new TgtError('no free tgtd control port');
  }

  /** From now on serve() refuses (unserve still works): a stopping agent starts no more tgtds. */
  close(): void {
    this.closing = true;
  }

  /**
   * Starts a tgtd for a disk on its first portal. Only picking its control port and spawning it (until
   * its state file names the port) is serialized across disks; waiting for it to answer is not: tgtd
   * takes a few hundred ms to start (it loads its backing-store modules, librbd among them), and 1,000
   * paths served one tgtd start at a time took minutes.
   */
  private async startTgtd(disk: string, ip: string, backing: TargetBacking): Promise<UnitState> {
    const state = await this.spawnTgtd(disk, ip, backing);
    try {
      await this.waitReady(state);
    } catch (e) {
      // A tgtd that never became ready is not kept: it could hold the portal (or half of it) while the
      // next attempt starts another one. Killed by PID, its record and control port released.
      await this.discard(state);
      throw e;
    }
    return state;
  }

  /**
   * SIGKILLs pid if it is still a tgtd on ip:port with this control port (not a recycled pid), and
   * waits until it is gone. True when nothing of it runs any more.
   */
  private async killStarted(pid: number, ip: string, controlPort: number, port = this.port): Promise<boolean> {
    if (await this.isOurTgtd(pid, ip, controlPort, port)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    for (let i = 0; i < 200 && alive(pid); i++) await sleep(10);
    if (alive(pid)) {
      this.o.log.error({ ip, pid }, 'a tgtd that failed to start survived SIGKILL');
      return false;
    }
    return true;
  }

  /** Undoes a start that failed after the spawn: the tgtd, its socket, its record, its control port. */
  private async discard(s: UnitState): Promise<void> {
    await this.killStarted(s.pid, s.ip, s.controlPort, s.launchPort);
    await this.cleanSocket(s.controlPort);
    await this.removeState(s);
    this.portsInUse?.delete(s.controlPort);
    this.verified.delete(unitKey(s));
  }

  /**
   * Kills the tgtds of this network namespace that serve one of `ips` and that no state file records:
   * left by an agent that died between starting a tgtd and recording it. The fence guard drops such a
   * tgtd's IP, but the process would live on (holding its control port) until its IP is served here
   * again. The agent calls this once, before it serves anything.
   */
  async killUnrecorded(ips: ReadonlySet<string>): Promise<{ pid: number; ip: string }[]> {
    if (ips.size === 0) return [];
    return this.startLock.run(async () => {
      // A tgtd being launched is not recorded until it is found: not a stray.
      while (this.launching > 0) await sleep(20);
      const known = new Set([...(await this.loadStates()).values()].map((s) => s.pid));
      const strays = await strayTgtds((ip) => ips.has(ip), this.port, known);
      await this.killStrays(strays);
      return strays;
    });
  }

  private async killStrays(strays: { pid: number; ip: string }[]): Promise<void> {
    for (const { pid, ip } of strays) {
      this.o.log.warn({ ip, pid }, 'killing a tgtd no state file records');
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue; // gone meanwhile
      }
      for (let i = 0; i < 40 && alive(pid); i++) await sleep(25);
    }
  }

  /**
   * Spawns a tgtd for `disk` on its first portal `ip`, or (warm) an idle one for the pool on its
   * placeholder portal (WARM_IP:warmPort(control port)), and records it.
   */
  private async spawnTgtd(disk: string, ip: string, backing: Pick<TargetBacking, 'bstype'>, warm = false): Promise<UnitState> {
    // Only picking the control port (and looking for a stray on the portal) is serialized; the starts
    // themselves go out together (TgtdLauncher).
    // A tgtd no state file records that holds this portal would keep the new one from binding it. Only
    // when something listens on the portal is /proc searched for it: the search reads every process's
    // cmdline, and run under startLock at every start it made serving 1,000 paths take most of an hour.
    // The look (a TCP connect) is made before the lock: the picks of serves waiting for it then follow
    // each other in one event-loop turn, and their tgtds start together (one `xargs`, TgtdLauncher).
    const held = !warm && (await listening(ip, this.port));
    const controlPort = await this.startLock.run(async () => {
      if (this.closing) throw new TgtError('the target driver is stopping');
      if (held) {
        const known = new Set((await this.units()).map((p) => p.pid));
        await this.killStrays(await strayTgtds((x) => x === ip, this.port, known));
      }
      return this.pickControlPort(disk);
    });
    const port = warm ? warmPort(controlPort) : this.port;
    let pid: number | undefined;
    this.launching++;
    try {
      await mkdir(this.o.logDir, { recursive: true });
      const args = ['-f', '-C', String(controlPort)];
      let env = process.env;
      let envKey = '';
      if (backing.bstype === 'rbd') {
        const t = this.tuning;
        if (t.rbdIoThreads !== undefined) args.push('-t', String(t.rbdIoThreads));
        if (t.rbdClientArgs?.length) {
          envKey = [process.env.CEPH_ARGS ?? '', ...t.rbdClientArgs].join(' ').trim();
          env = { ...process.env, CEPH_ARGS: envKey };
        }
      }
      args.push('--iscsi', `portal=${ip}:${port}`);
      const parent = await this.launcher.launch(args, env, envKey);
      pid = await this.startedPid(parent, controlPort, ip, port);
      const state: UnitState = warm
        ? { disk: '', ip, portals: [], pid, controlPort, specHash: '', iqn: '', launchPort: port, warm: backing.bstype }
        : { disk, ip, portals: [ip], pid, controlPort, specHash: '', iqn: '' };
      await this.writeState(state);
      return state;
    } catch (e) {
      // Unrecorded, the tgtd would hold the portal for good and nothing would ever stop it (reconcile,
      // unserve and fencing know only recorded tgtds): it goes, by PID, before the error is reported.
      if (pid !== undefined) await this.killStarted(pid, ip, controlPort, port);
      else await this.killLaunched(controlPort, ip, port);
      await this.cleanSocket(controlPort);
      this.portsInUse?.delete(controlPort);
      throw e;
    } finally {
      this.launching--;
    }
  }

  /**
   * The pid of the tgtd just launched for this control port: the child of its xargs (`parent`) whose
   * command line is ours (-C port, portal ip:port). Once xargs is gone (it stops early when one of its
   * tgtds is killed by a signal, leaving the others to run on), the process holding the port's lock
   * (tgtd takes it at start, for life) whose command line is ours. waitReady then checks that it holds
   * the lock: one that lost the port to another tgtd exits.
   */
  private async startedPid(parent: number, controlPort: number, ip: string, port: number): Promise<number> {
    const t0 = performance.now();
    const others = new Set<number>();
    let polls = 0;
    while (performance.now() - t0 < START_TIMEOUT_MS) {
      let kids: string[] | undefined;
      try {
        kids = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').split(' ');
      } catch {
        kids = undefined;
      }
      for (const k of kids ?? []) {
        const pid = Number(k);
        if (!Number.isInteger(pid) || pid <= 1 || others.has(pid)) continue;
        if (await this.isOurTgtd(pid, ip, controlPort, port)) return pid;
        // Another tgtd of the batch (exec'd: its command line will not change); before its exec a child
        // still shows xargs's command line, and is looked at again.
        if (cmdlineOf(pid)[0]?.endsWith('tgtd')) others.add(pid);
      }
      if (kids === undefined || ++polls % 20 === 0) {
        const holder = lockHolder(this.socketDir, controlPort, 50);
        if (holder !== undefined && (await this.isOurTgtd(holder, ip, controlPort, port))) return holder;
        // Another tgtd took the port first: ours exits (or has), no need to wait for it.
        if (holder !== undefined && lockHolder(this.socketDir, controlPort) === holder)
          throw new TgtError(`control port ${controlPort} is held by another tgtd (pid ${holder})`);
      }
      await sleep(kids === undefined ? 25 : 5);
    }
    // Given up: its xargs must not start it later (an unrecorded tgtd holding the portal), and it goes
    // with the others of its batch that it has not started yet (their starts fail and are retried).
    if (cmdlineOf(parent)[0] === 'xargs') {
      try {
        process.kill(parent, 'SIGKILL');
      } catch {}
    }
    throw new TgtError(`tgtd on ${ip}:${port} (control port ${controlPort}) was not found running (see tgtd.log)`);
  }

  /** Kills a tgtd launched for this control port that was never found (no lock taken in time), by PID. */
  private async killLaunched(controlPort: number, ip: string, port: number): Promise<void> {
    const myNet = await readlink('/proc/self/ns/net').catch(() => '');
    for (const d of await readdir('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const pid = Number(d);
      if (!(await this.isOurTgtd(pid, ip, controlPort, port))) continue;
      if ((await readlink(`/proc/${d}/ns/net`).catch(() => '')) !== myNet) continue;
      await this.killStarted(pid, ip, controlPort, port);
    }
  }

  private async waitReady(state: UnitState): Promise<void> {
    const { ip, pid, controlPort, disk } = state;
    // Ready when its control socket answers. tgtd takes the port's lock, then makes its control socket,
    // then starts its portals and answers: wait for the socket file with a stat (a few µs) rather than
    // with TCP connects to the portal or control requests (which fail until then).
    const sock = join(this.socketDir, `socket.${controlPort}`);
    for (let i = 0; i < 400 && alive(pid) && !existsSync(sock); i++) await sleep(5);
    const t0 = performance.now();
    // About 7 s (the wait for the portal that came before this one was up to 2 s of it): a stale socket
    // file (a tgtd killed before its cleanup) ends the wait above at once.
    for (let i = 0; i < 280; i++) {
      if (!alive(pid)) throw new TgtError(`tgtd for disk ${disk} on ${ip} exited at start (see tgtd.log)`);
      // Ours only when our tgtd holds the port's lock: another tgtd that took the port first answers on
      // the same socket (and ours exits), and must never be configured as this disk's target. Seen
      // through our tgtd's own open files (holdsPortLock); otherwise the tgtds starting at once share a
      // reading of /proc/locks up to 20 ms old (made since this wait began), and another holder is
      // confirmed on a fresh one.
      let holder = holdsPortLock(this.socketDir, controlPort, pid) ? pid : lockHolder(this.socketDir, controlPort, Math.min(20, performance.now() - t0));
      if (holder !== undefined && holder !== pid) holder = lockHolder(this.socketDir, controlPort);
      if (holder !== undefined && holder !== pid) throw new TgtError(`control port ${controlPort} is held by another tgtd (pid ${holder})`);
      if (holder === pid && (await this.answers(controlPort))) {
        this.o.log.info({ disk, ip, pid, controlPort }, 'tgtd started');
        return;
      }
      await sleep(25);
    }
    throw new TgtError(`tgtd for disk ${disk} did not answer on control port ${controlPort}`);
  }

  /**
   * Frees `portals` from every other unit that holds one of them (a legacy per-path tgtd left by an
   * older version, or another disk's tgtd after an IP was reused): a unit left with no portal stops.
   */
  private async freePortals(disk: string, portals: ReadonlySet<string>): Promise<void> {
    for (const other of [...(await this.loadStates()).values()]) {
      const key = unitKey(other);
      if (key === disk || !other.portals.some((ip) => portals.has(ip))) continue;
      await this.locks.run(key, async () => {
        const s = (await this.loadStates()).get(key);
        if (!s) return;
        const rest = s.portals.filter((ip) => !portals.has(ip));
        this.o.log.info({ unit: key, disk, portals: s.portals.filter((ip) => portals.has(ip)) }, 'portal taken over by another disk');
        if (s.disk === '' || rest.length === 0 || !(await this.ours(s))) return this.stopUnit(s);
        for (const ip of s.portals) if (portals.has(ip)) await this.deletePortal(s.controlPort, ip);
        await this.writeState({ ...s, portals: rest });
      });
    }
  }

  private async addPortal(cp: number, ip: string): Promise<void> {
    try {
      await this.ctl(cp, { lld: 'iscsi', mode: 'portal', op: 'new', params: { portal: `${ip}:${this.port}` } });
    } catch (e) {
      // Already there (a record lost by a crash after the request): fine. tgtd answers that case with
      // the same "invalid request" as a failed bind (the address held by another process), so its
      // portal list tells them apart.
      const shown = await this.ctl(cp, { lld: 'iscsi', mode: 'portal', op: 'show' }).catch(() => ({ text: '' }));
      if (!shown.text.split('\n').some((l) => l.trim().startsWith(`Portal: ${ip}:${this.port},`))) throw e;
    }
  }

  private async deletePortal(cp: number, ip: string): Promise<void> {
    await this.ctl(cp, { lld: 'iscsi', mode: 'portal', op: 'delete', params: { portal: `${ip}:${this.port}` } }).catch((e) =>
      this.o.log.warn({ ip, err: String((e as Error).message) }, 'portal delete failed'),
    );
  }

  /** Serves spec for `disk` on exactly `portals`; idempotent: a matching target is left alone (its sessions too). */
  async serve(disk: string, spec: TargetSpec, portals: readonly string[]): Promise<void> {
    if (!DISK_ID.test(disk)) throw new TgtError(`invalid disk id ${String(disk).slice(0, 20)}`);
    const want = [...new Set(portals)].sort();
    if (want.length === 0) throw new TgtError(`disk ${disk}: no portal to serve`);
    for (const ip of want) if (!isIp(ip)) throw new TgtError(`invalid portal IP ${ip}`);
    if (!isValidIqn(spec.iqn)) throw new TgtError(`invalid target IQN ${spec.iqn}`);
    if (spec.acl !== '' && !isValidIqn(spec.acl)) throw new TgtError(`invalid initiator IQN ${spec.acl}`);
    if (this.closing) throw new TgtError('the target driver is stopping');
    await this.freePortals(disk, new Set(want));
    return this.locks.run(disk, async () => {
      if (this.closing) throw new TgtError('the target driver is stopping');
      const hash = hashSpec(spec);
      let s = (await this.loadStates()).get(disk);
      if (s && !(await this.ours(s))) {
        this.o.log.warn({ disk, pid: s.pid }, 'tgtd gone, restarting it');
        await this.cleanSocket(s.controlPort);
        await this.removeState(s);
        this.portsInUse?.delete(s.controlPort);
        this.verified.delete(disk);
        s = undefined;
      }
      let fresh = false;
      let placeholder: string | undefined;
      if (!s) {
        s = await this.takeWarm(disk, spec.backing.bstype);
        if (s) placeholder = `${s.ip}:${s.launchPort}`;
        else {
          this.starting++;
          this.lastBusy = performance.now();
          try {
            s = await this.startTgtd(disk, want[0] as string, spec.backing);
          } finally {
            this.starting--;
          }
        }
        fresh = true;
      }
      // Portals: the missing ones added, the others' sessions untouched; then the ones no longer wanted go.
      const have = new Set(s.portals);
      const adding = want.filter((ip) => !have.has(ip));
      const removing = s.portals.filter((ip) => !want.includes(ip));
      const unit: UnitState = s;
      const portalsChange = async (): Promise<UnitState> => {
        if (!adding.length && !removing.length) return unit;
        this.deepChecked.delete(disk);
        // A portal to add that something listens on already (freePortals moved our own units off it):
        // a tgtd no record names (one launched by a run that gave up waiting for it) would refuse it
        // for good ("Address already in use"): found by its command line and killed, as at a fresh start.
        for (const ip of adding) {
          if (!(await listening(ip, this.port))) continue;
          const known = new Set([...(await this.loadStates()).values()].map((u) => u.pid));
          await this.killStrays(await strayTgtds((x) => x === ip, this.port, known));
        }
        // One control request each, side by side (tgtd answers them one after the other).
        await Promise.all(adding.map((ip) => this.addPortal(unit.controlPort, ip)));
        await Promise.all(removing.map((ip) => this.deletePortal(unit.controlPort, ip)));
        // A tgtd from the warm pool: its placeholder portal goes once the disk's are there.
        if (placeholder !== undefined)
          await this.ctl(unit.controlPort, { lld: 'iscsi', mode: 'portal', op: 'delete', params: { portal: placeholder } }).catch((e) =>
            this.o.log.warn({ disk, portal: placeholder, err: String((e as Error).message) }, 'placeholder portal delete failed'),
          );
        const next = { ...unit, portals: want };
        await this.writeState(next);
        this.o.log.info({ disk, added: adding, removed: removing }, 'portals changed');
        return next;
      };
      if (fresh) {
        // A tgtd just started or taken from the warm pool has no target: its portals and its target
        // are set up at once (each a few control requests one after the other). No initiator gets in
        // before the ACL is bound, last; the agent announces the IPs only after this.
        this.verified.delete(disk);
        this.deepChecked.delete(disk);
        // Both finish before the unit's lock is let go, whichever fails.
        const [portalsDone, configured] = await Promise.allSettled([portalsChange(), this.configure(unit.controlPort, spec)]);
        if (portalsDone.status === 'rejected') throw portalsDone.reason;
        if (configured.status === 'rejected') throw configured.reason;
        const next = portalsDone.value;
        await this.writeState({ ...next, specHash: hash, baseHash: baseHashOf(spec), iqn: spec.iqn });
        this.verified.set(disk, { pid: next.pid, specHash: hash, at: Date.now() });
        this.deepChecked.set(disk, { pid: next.pid, specHash: hash, at: Date.now() });
        this.o.log.info({ disk, portals: want, iqn: spec.iqn, acl: spec.acl || 'ALL', chap: spec.chapUser !== '' }, 'target configured');
        return;
      }
      s = await portalsChange();
      // The agent calls serve for every disk it holds on every resync: a target this driver configured
      // or checked lately, in the same tgtd, is not asked about again.
      const v = this.verified.get(disk);
      if (v && v.pid === s.pid && v.specHash === hash && s.specHash === hash && Date.now() - v.at < VERIFY_EVERY_MS) return;
      const shown = parseShowTargets((await this.ctl(s.controlPort, { lld: 'iscsi', mode: 'target', op: 'show' })).text);
      const target = shown.find((t) => t.tid === tidOf(spec));
      const base = baseHashOf(spec);
      const same = target !== undefined && shown.length === 1 && target.iqn === spec.iqn && target.luns.some((l) => l.lun === 1);
      if (same && s.specHash === hash) {
        if (s.baseHash !== base) await this.writeState({ ...s, baseHash: base });
        this.verified.set(disk, { pid: s.pid, specHash: hash, at: Date.now() });
        return;
      }
      // Only the size changed (a grow): the LUN re-opens its image in place; sessions stay.
      if (same && s.baseHash === base && (await this.reread(disk, s.controlPort, spec))) {
        await this.writeState({ ...s, specHash: hash, baseHash: base, iqn: spec.iqn });
        this.verified.set(disk, { pid: s.pid, specHash: hash, at: Date.now() });
        this.deepChecked.delete(disk);
        this.o.log.info({ disk, sizeGb: spec.sizeGb }, 'LUN re-read: the new size is served');
        return;
      }
      this.verified.delete(disk);
      this.deepChecked.delete(disk);
      // Whatever targets it has (another tid: a spec from before), they go: one tgtd, one target.
      for (const t of shown) await this.ctl(s.controlPort, { lld: 'iscsi', mode: 'target', op: 'delete', tid: t.tid, force: true });
      await this.configure(s.controlPort, spec);
      await this.writeState({ ...s, specHash: hash, baseHash: baseHashOf(spec), iqn: spec.iqn });
      this.verified.set(disk, { pid: s.pid, specHash: hash, at: Date.now() });
      // Just configured, every request answered by this tgtd, its portals added above: check() needs
      // no control requests to see that again (it still connects to every portal), until VERIFY_EVERY_MS.
      this.deepChecked.set(disk, { pid: s.pid, specHash: hash, at: Date.now() });
      this.o.log.info({ disk, portals: want, iqn: spec.iqn, acl: spec.acl || 'ALL', chap: spec.chapUser !== '' }, 'target configured');
    });
  }

  /** When each disk's target was last checked in depth (control requests), by check(). */
  private readonly deepChecked = new Map<string, { pid: number; specHash: string; at: number }>();

  /**
   * Every call: the process, its control socket and port lock, and a TCP connect to each portal (cheap:
   * the agent calls it for every disk at every resync). In depth (the target, LUN and serial, and the
   * portal list, asked over the control socket) after the target changed and every VERIFY_EVERY_MS.
   */
  async check(disk: string, spec: TargetSpec, portals: readonly string[]): Promise<string | undefined> {
    const s = (await this.loadStates()).get(disk);
    if (!s) return 'no target process recorded';
    if (!(await this.ours(s))) return `tgtd ${s.pid} is not running`;
    if (!existsSync(join(this.socketDir, `socket.${s.controlPort}`))) return `tgtd ${s.pid} has no control socket any more`;
    // The lock seen through the tgtd's own open files (cheap), or a reading of /proc/locks up to a second
    // old that names this tgtd, will do (it holds the lock for its life, and it is alive: checked above);
    // anything else is read again.
    let holder = holdsPortLock(this.socketDir, s.controlPort, s.pid) ? s.pid : lockHolder(this.socketDir, s.controlPort, 1000);
    if (holder !== s.pid) holder = lockHolder(this.socketDir, s.controlPort);
    if (holder !== s.pid) return `control port ${s.controlPort} is held by ${holder === undefined ? 'nobody' : `pid ${holder}`}, not tgtd ${s.pid}`;
    for (const ip of portals) if (!(await listening(ip, this.port))) return `portal ${ip}:${this.port} does not accept connections`;
    const hash = hashSpec(spec);
    const last = this.deepChecked.get(disk);
    if (last && last.pid === s.pid && last.specHash === hash && Date.now() - last.at < VERIFY_EVERY_MS) return undefined;
    let targets: ReturnType<typeof parseShowTargets>;
    let shownPortals: string[];
    try {
      targets = parseShowTargets((await this.ctl(s.controlPort, { lld: 'iscsi', mode: 'target', op: 'show' })).text);
      shownPortals = parseShowPortals((await this.ctl(s.controlPort, { lld: 'iscsi', mode: 'portal', op: 'show' })).text);
    } catch (e) {
      return `tgtd ${s.pid} does not answer on its control socket: ${String((e as Error).message)}`;
    }
    const t = targets.find((x) => x.tid === tidOf(spec));
    if (!t || t.iqn !== spec.iqn) return `target ${spec.iqn} is missing`;
    const serial = `PW${spec.serial.replace(/[^A-Za-z0-9]/g, '')}`;
    const lun = t.luns.find((l) => l.lun === 1);
    if (!lun) return 'LUN 1 is missing';
    if (lun.serial !== serial) return `LUN 1 has serial ${lun.serial}, not ${serial}`;
    for (const ip of portals) if (!shownPortals.includes(`${ip}:${this.port}`)) return `portal ${ip}:${this.port} is missing`;
    this.deepChecked.set(disk, { pid: s.pid, specHash: hash, at: Date.now() });
    return undefined;
  }

  /**
   * A grown image served at its new size without dropping sessions: the target answers new commands BUSY
   * (state offline; hosts retry them) while the commands in flight finish, then LUN 1 is taken offline and
   * its backing re-opened (tgtd reads the size at open; `path=` re-opens and brings it online again), and
   * the target is ready again. tgt raises no CAPACITY DATA HAS CHANGED unit attention: hosts see the size
   * at their next READ CAPACITY (a rescan). False (the target ready again) when tgtd refused a step: the
   * caller reconfigures the target instead.
   */
  private async reread(disk: string, cp: number, spec: TargetSpec): Promise<boolean> {
    const lld = 'iscsi';
    const tid = tidOf(spec);
    let offline = false;
    try {
      await this.ctl(cp, { lld, mode: 'target', op: 'update', tid, params: { state: 'offline' } });
      offline = true;
      await sleep(GROW_DRAIN_MS);
      await this.ctl(cp, { lld, mode: 'logicalunit', op: 'update', tid, lun: 1, params: `targetOps online=0,path=${spec.backing.path},` });
      return true;
    } catch (e) {
      this.o.log.warn({ disk, err: String((e as Error).message) }, 'LUN re-read refused; reconfiguring the target');
      return false;
    } finally {
      if (offline)
        await this.ctl(cp, { lld, mode: 'target', op: 'update', tid, params: { state: 'ready' } }).catch((e) =>
          this.o.log.warn({ disk, err: String((e as Error).message) }, 'target state ready refused'),
        );
    }
  }

  private async configure(cp: number, spec: TargetSpec): Promise<void> {
    const lld = 'iscsi';
    const TID = tidOf(spec);
    await this.ctl(cp, { lld, mode: 'target', op: 'new', tid: TID, params: { targetname: spec.iqn } });
    // What does not depend on each other goes at once; the initiator ACL is bound last, so no
    // initiator logs in before the LUN, its identity and CHAP are in place.
    const lun = async () => {
      const { path, bstype, bsopts } = spec.backing;
      await this.ctl(cp, { lld, mode: 'logicalunit', op: 'new', tid: TID, lun: 1, params: bsopts ? { path, bstype, bsopts } : { path, bstype } });
      // One identity on every path of the disk, distinct between disks: multipath relies on it.
      const serial = spec.serial.replace(/[^A-Za-z0-9]/g, '');
      await this.ctl(cp, {
        lld,
        mode: 'logicalunit',
        op: 'update',
        tid: TID,
        lun: 1,
        params: targetOps({ vendor_id: 'PORTWAY', product_id: 'DISK', scsi_id: `portway-${serial}`, scsi_sn: `PW${serial}` }),
      });
    };
    const chap = async () => {
      if (!spec.chapUser) return;
      const user = spec.chapUser;
      await this.ctl(cp, { lld, mode: 'account', op: 'delete', params: { user } }).catch(() => {});
      // The password last: tgtd reads it to the end of the request.
      await this.ctl(cp, { lld, mode: 'account', op: 'new', params: { user, password: spec.chapPassword } });
      await this.ctl(cp, { lld, mode: 'account', op: 'bind', tid: TID, params: { user } });
      // Mutual CHAP: the target's own account, bound as the target's outgoing one (the host checks it).
      const target = spec.targetChapUser;
      if (!target || !spec.targetChapPassword) return;
      await this.ctl(cp, { lld, mode: 'account', op: 'delete', params: { user: target } }).catch(() => {});
      await this.ctl(cp, { lld, mode: 'account', op: 'new', params: { user: target, password: spec.targetChapPassword } });
      await this.ctl(cp, { lld, mode: 'account', op: 'bind', tid: TID, outgoing: true, params: { user: target } });
    };
    // tgtd takes one session parameter per request (iscsi_target_update reads one name and its value),
    // so each is a request of its own; one equal to what tgtd gives a new target is not sent.
    const params = Object.entries(this.tuning.targetParams ?? {})
      .filter(([name, value]) => !isTgtdSessionDefault(name, value))
      .map(([name, value]) => this.ctl(cp, { lld, mode: 'target', op: 'update', tid: TID, params: { [name]: value } }));
    await Promise.all([lun(), chap(), ...params]);
    await this.ctl(cp, { lld, mode: 'target', op: 'bind', tid: TID, params: spec.acl ? { 'initiator-name': spec.acl } : { 'initiator-address': 'ALL' } });
  }

  /** Stops serving a unit (disk id, or a legacy unit's key): removes the target (dropping sessions) and stops its tgtd. */
  unserve(key: string): Promise<void> {
    return this.locks.run(key, async () => {
      const s = (await this.loadStates()).get(key);
      if (!s) return;
      await this.stopUnit(s);
    });
  }

  /** (under the unit's lock) */
  private async stopUnit(s: UnitState): Promise<void> {
    this.verified.delete(unitKey(s));
    this.deepChecked.delete(unitKey(s));
    await this.kill(s);
    await this.removeState(s);
    this.portsInUse?.delete(s.controlPort);
    this.o.log.info({ unit: unitKey(s), portals: s.portals }, 'target stopped');
  }

  private async kill(s: UnitState): Promise<void> {
    // Without its control socket (removed behind our back) a tgtd cannot be asked to stop: SIGKILL.
    if (!existsSync(join(this.socketDir, `socket.${s.controlPort}`)) && (await this.ours(s))) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {}
      for (let i = 0; i < 80 && alive(s.pid); i++) await sleep(25);
    }
    if (await this.ours(s)) {
      // tgtd ignores SIGTERM: delete the target with --force, then the system.
      const shown = await this.ctl(s.controlPort, { lld: 'iscsi', mode: 'target', op: 'show' }).then(
        (r) => parseShowTargets(r.text),
        () => [],
      );
      for (const t of shown) await this.ctl(s.controlPort, { lld: 'iscsi', mode: 'target', op: 'delete', tid: t.tid, force: true }).catch(() => {});
      await this.ctl(s.controlPort, { mode: 'system', op: 'delete' }).catch(() => {});
      for (let i = 0; i < 120 && alive(s.pid); i++) await sleep(25);
      if (await this.ours(s)) {
        this.o.log.warn({ unit: unitKey(s), pid: s.pid }, 'tgtd did not stop, killing it');
        process.kill(s.pid, 'SIGKILL');
        for (let i = 0; i < 40 && alive(s.pid); i++) await sleep(25);
      }
    }
    await this.cleanSocket(s.controlPort);
  }

  /**
   * Removes a control socket and its lock file left by a tgtd of ours that is gone, unless a live tgtd
   * answers on it: another tgtd may have taken the port since (one that won a start race, or another
   * instance's), and its socket is never ours to remove.
   */
  private async cleanSocket(cp: number): Promise<void> {
    if (lockHolder(this.socketDir, cp) !== undefined || (existsSync(join(this.socketDir, `socket.${cp}`)) && (await this.answers(cp)))) {
      this.o.log.warn({ controlPort: cp }, 'control socket answers: another tgtd holds the port; left alone');
      this.foreignPorts.add(cp);
      return;
    }
    await rm(join(this.socketDir, `socket.${cp}`), { force: true });
    await rm(join(this.socketDir, `socket.${cp}.lock`), { force: true });
  }

  /**
   * Keeps `n` idle tgtds (for backing stores of type `bstype`) started and ready: the warm pool. A disk
   * this node takes over is served by one of them (its portals added and the target configured at run
   * time) instead of waiting for a tgtd to start: a process start, its modules loaded (librbd among
   * them) and its control socket up, 0.3-2 s under load and the largest step of a failover (see
   * bench/RESULTS.md). The pool fills in the background, one tgtd at a time and only while no serve
   * waits for a start of its own; extra idle tgtds (a smaller n, another type) are stopped before this
   * resolves. An idle tgtd listens only on its placeholder portal, 127.0.0.1 on a port of its own.
   */
  async warm(n: number, bstype: 'rdwr' | 'rbd' = this.warmKind): Promise<void> {
    this.warmWant = Math.max(0, Math.floor(n));
    this.warmKind = bstype;
    // Chosen under poolLock (one warm() at a time; one being handed to a disk is skipped), stopped outside it.
    const { stop, keep } = await this.poolLock.run(async () => {
      const states = await this.loadStates();
      const diskPids = new Set([...states.values()].filter((u) => !u.warm).map((u) => u.pid));
      const stop: UnitState[] = [];
      let keep = 0;
      for (const u of [...states.values()].filter((x) => x.warm)) {
        const key = unitKey(u);
        if (diskPids.has(u.pid)) {
          // A take that a crash cut short: the disk's record names the process; the idle record goes.
          this.warmReady.delete(key);
          await this.removeState(u);
          continue;
        }
        // One of a previous run: ready if it is still ours and holds its control port.
        if (!this.warmReady.has(key) && (await this.ours(u)) && lockHolder(this.socketDir, u.controlPort) === u.pid) this.warmReady.add(key);
        if (u.warm === bstype && keep < this.warmWant && this.warmReady.has(key)) {
          keep++;
          continue;
        }
        if (!this.warmReady.has(key) && this.refilling) continue; // maybe the one starting now
        if (this.taking.has(key)) continue; // being handed to a disk
        this.warmReady.delete(key);
        stop.push(u);
      }
      return { stop, keep };
    });
    for (const u of stop) await this.locks.run(unitKey(u), () => this.stopUnit(u));
    if (keep < this.warmWant) void this.refill();
  }

  /** Idle tgtds of the pool that are ready, of a type. */
  private async readyWarm(bstype: 'rdwr' | 'rbd'): Promise<UnitState[]> {
    return [...(await this.loadStates()).values()].filter((u) => u.warm === bstype && this.warmReady.has(unitKey(u)));
  }

  /** Starts idle tgtds until the pool has warmWant of them, one at a time, giving way to serves that start a tgtd. */
  private async refill(): Promise<void> {
    if (this.refilling) return;
    this.refilling = true;
    let failures = 0;
    try {
      while (!this.closing && failures < 3) {
        // Not while serves start tgtds or take idle ones (a failover): the refill waits for a quiet
        // spell, then starts one tgtd at a time with a pause between them.
        if (this.starting > 0 || performance.now() - this.lastBusy < REFILL_QUIET_MS) {
          await sleep(250);
          continue;
        }
        if ((await this.readyWarm(this.warmKind)).length >= this.warmWant) break;
        const kind = this.warmKind;
        const st = await this.spawnTgtd('', WARM_IP, { bstype: kind }, true);
        try {
          await this.waitReady(st);
          this.warmReady.add(unitKey(st));
          failures = 0;
          await sleep(REFILL_GAP_MS);
        } catch (e) {
          failures++;
          this.o.log.warn({ controlPort: st.controlPort, err: String((e as Error).message) }, 'warm tgtd did not start');
          await this.discard(st);
          await sleep(500);
        }
      }
    } catch (e) {
      this.o.log.warn({ err: String((e as Error).message) }, 'warm pool refill failed');
    } finally {
      this.refilling = false;
    }
  }

  /**
   * Hands a ready idle tgtd of the pool to `disk`: recorded as the disk's (its record written before
   * the idle one's is removed, so the process is never unrecorded), no portal of the disk yet.
   */
  private async takeWarm(disk: string, bstype: 'rdwr' | 'rbd'): Promise<UnitState | undefined> {
    this.lastBusy = performance.now();
    for (;;) {
      // Chosen with no await between the look and the mark: takes run in parallel (a failover serves
      // many disks at once), and warm() never stops one being taken (it skips `taking`).
      const u = [...(this.states?.values() ?? [])].find((x) => x.warm === bstype && this.warmReady.has(unitKey(x)) && !this.taking.has(unitKey(x)));
      if (!u) return undefined;
      const key = unitKey(u);
      this.warmReady.delete(key);
      this.taking.add(key);
      try {
        if (!(await this.ours(u))) {
          await this.locks.run(key, () => this.discard(u));
          continue;
        }
        const { warm: _idle, ...rest } = u;
        const s: UnitState = { ...rest, disk, portals: [] };
        await this.writeState(s);
        await this.removeState(u);
        this.o.log.info({ disk, pid: s.pid, controlPort: s.controlPort }, 'tgtd taken from the warm pool');
        void this.refill();
        return s;
      } finally {
        this.taking.delete(key);
      }
    }
  }

  /** Stops every tgtd this driver started (the warm pool's too). */
  async stopAll(): Promise<void> {
    this.warmWant = 0;
    for (const u of await this.units()) await this.unserve(u.key);
    for (const u of [...(await this.loadStates()).values()].filter((x) => x.warm)) await this.locks.run(unitKey(u), () => this.stopUnit(u));
  }
}

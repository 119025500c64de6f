/**
 * A simulated Portway cluster on one machine, for HA tests and the failover bench.
 *
 * Namespaces (unique per run: pw-<pid>[-<k>]-<role>):
 *   infra   etcd, with `images: 'rbd'` also a one-node Ceph (mon, mgr, one OSD), and three bridges:
 *           br0 management 10.99.0.0/24 (infra is 10.99.0.1), br1 iSCSI subnet 1 10.99.1.0/24,
 *           br2 iSCSI subnet 2 10.99.2.0/24
 *   n1..nN  one node each: eth0 (10.99.0.1<i>/24, management), eth1 and eth2 (no address: the agent
 *           adds path IPs there); a real `portway agent` process and the tgtds it starts
 *   cl      the iSCSI client: eth1 10.99.1.250/24, eth2 10.99.2.250/24 (libiscsi tools, qemu-io); with
 *           serveOn also eth0 10.99.0.250/24 on the management bridge (curl and the CLI to the API)
 * With ClusterOptions.serveOn one node runs `portway serve` (HTTPS on 10.99.0.1<i>:8080, the product's
 * own self-signed certificate) instead of the agent alone; clientCurl/api/login talk to it from cl.
 * Every link is a veth pair created from inside infra straight into the other namespace; the root
 * namespace gets no link and no address, and sends nothing but loopback traffic.
 *
 * The test process (root namespace) administers the cluster through etcd: etcd listens on
 * 10.99.0.1:2379 for the nodes and also on a unix socket in the run dir, and the harness forwards a
 * 127.0.0.1 port to that socket. So DiskService and PathService run in the test process, in the root
 * namespace, talking to loopback only.
 *
 * SimNode.freeze()/thaw(): every process of a node's namespace (agent, fence guard, tgtds) stopped and
 * resumed at one instant through a freezer cgroup per node (cgroup v1 freezer, or v2 cgroup.freeze):
 * a hung host whose kernel still holds its IPs and sockets. freezeFailoverRep() is one repetition of
 * "freeze the node serving a shared disk under pw-verify, fail over, thaw" (ha-freeze, bench/freeze-loop).
 *
 * Images (ClusterOptions.images):
 *   'file' (default)  the file image store on one shared directory (each node's <state>/images is a
 *                     symlink to it). tgtds of different nodes open the same sparse file, which is
 *                     consistent on one machine (one page cache).
 *   'rbd'             scripts/ceph-start.sh run inside infra: mon on 10.99.0.1:<port unique to the
 *                     run>, OSD (memstore by default) and mgr on 10.99.0.1, data dir <run dir>/ceph.
 *                     Ceph starts while the namespaces are wired (~9-15 s on a loaded 2-CPU box) and
 *                     the agents start once it is up. Every node's agent uses the RBD image store with
 *                     <run dir>/ceph/ceph.conf and keyring (mon host 10.99.0.1): its tgtds open the
 *                     image through librbd across the management bridge, one RBD client per path.
 *                     The test process's DiskService runs the rbd CLI inside infra (RbdImageStore's
 *                     command prefix `ip netns exec <infra>`); cephRun() does the same for tests.
 *
 * Teardown (also from an exit hook after a crash, and on SIGINT/SIGTERM/SIGHUP): agents, the Ceph
 * daemons (by the PIDs in their PID files, each checked against /proc/<pid>/cmdline) and every
 * process left in our namespaces are killed by PID (found through /proc/<pid>/ns/net), etcd by PID,
 * namespaces deleted, run dir removed. Frozen nodes are thawed first (a frozen process takes no
 * signal; cgroup v1: not even SIGKILL) and their freezer cgroups removed; reapStale() also thaws and
 * removes the freezer cgroups of a dead run.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { EtcdStore } from '../../src/adapters/coord/etcd-store.js';
import { run } from '../../src/adapters/exec.js';
import { FileImageStore } from '../../src/adapters/images/file-store.js';
import { RbdImageStore } from '../../src/adapters/images/rbd-store.js';
import type { ImageStore } from '../../src/adapters/images/types.js';
import { type ClusterConfig, checkConfig } from '../../src/domain/config.js';
import { DiskService } from '../../src/services/disk-service.js';
import { PathService } from '../../src/services/path-service.js';
import { type VerifierResult, runVerifier, startVerifier } from '../helpers/write-verifier.js';
import { IpWatcher } from './ip-watcher.js';
import { addNamespace, addrs, alive, cmdline, deleteNamespace, deleteNamespaceSync, ipn, killPid, namespaceInode, pidsInNamespaces, veth } from './netns.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HA_TOOLS = ['ip', 'arping', 'etcd', 'tgtd', 'tgtadm', 'iscsi-inq', 'iscsi-ls', 'qemu-io'];
/** What `images: 'rbd'` needs on top of HA_TOOLS (ceph-start.sh's tools; tgt's rbd backing store is checked at start). */
export const HA_CEPH_TOOLS = ['ceph-mon', 'ceph-osd', 'ceph-mgr', 'ceph', 'rbd', 'rados', 'ceph-authtool', 'monmaptool', 'uuidgen', 'bash'];
export const INITIATOR = 'iqn.2016-05.io.portway.test:ha-client';
/** The first admin's password (cluster init, or the first start of `portway serve` with ClusterOptions.serveOn). */
export const ADMIN_PASSWORD = 'Cluster-Secret-42';
/** The client namespace's address on the management bridge (with ClusterOptions.serveOn). */
export const CLIENT_MGMT = '10.99.0.250';
/** The port `portway serve` listens on (with ClusterOptions.serveOn), on the node's management address. */
export const SERVE_PORT = 8080;
const ETCD_MGMT = '10.99.0.1';
/** etcd's root password with ClusterOptions.etcdTls (a throwaway cluster in namespaces). */
const ETCD_ROOT_PASSWORD = 'Harness-Etcd-Root-7';
const INFRA_MGMT = ETCD_MGMT;

export interface ClusterOptions {
  nodes: number;
  leaseTtlSeconds: number;
  /** Agents' log level (their logs are in <dir>/<node>/agent.log). */
  logLevel?: string;
  /**
   * Image store of every node and of the test process's DiskService. 'file' (default): sparse files
   * in one shared directory. 'rbd': a one-node Ceph (mon, mgr, one OSD) run inside the infra
   * namespace on 10.99.0.1; agents and tgtds reach it across the management bridge.
   */
  images?: 'file' | 'rbd';
  /** OSD object store with images 'rbd' (default memstore: RAM, starts ~5 s faster than bluestore). */
  cephObjectStore?: 'memstore' | 'bluestore';
  /** Extra ceph.conf lines for the run's Ceph (a final [global] section), e.g. 'osd client watch timeout = 120'. */
  cephConf?: string[];
  /**
   * Extra `agent` settings of every node (settings.json), e.g. `{ storageFencing: false }` for a test
   * that measures what storage fencing prevents. SimCluster.setAgentSettings changes them later (for
   * agents started after it).
   */
  agent?: { storageFencing?: boolean; resyncSeconds?: number };
  /**
   * Bring the nodes up as an admin would with `portway cluster init` (on n1, with the cluster settings
   * as flags) and `portway node join` (every node's process), each node's file holding only local
   * things (name, state dir, etcd, images, interfaces, tgtd ports): no cluster fields.
   */
  join?: boolean;
  /**
   * etcd over TLS with client certificates (a CA, a server certificate for 10.99.0.1 and a client
   * certificate made with openssl in the run dir) and authentication (user root with a password in a
   * file of its own): the nodes' files name them. The test process reaches etcd through its unix socket
   * (no TLS there) with the same user and password.
   */
  etcdTls?: boolean;
  /**
   * This node runs `portway serve` (the API and web UI over HTTPS with the product's own self-signed
   * certificate, made at its first start in <node dir>/tls, on <management address>:8080, plus its agent)
   * instead of `portway agent` / `portway node join`. The client namespace gets a leg on the management
   * bridge (10.99.0.250/24), from which SimCluster.clientCurl/api/login reach it with curl.
   */
  serveOn?: string;
}

/** The certificate `portway serve` printed at its start (PORTWAY_TLS_CERT line). */
export interface ServeTls {
  certFile: string;
  generated: boolean;
  /** SHA-256 of the certificate, upper-case hex pairs joined by ':'. */
  fingerprint256: string;
  spkiSha256: string;
}

/** A curl run in the client namespace: its exit code and output (a failure is no exception). */
export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** An API call through curl: the HTTP status and the body (parsed as JSON when it is JSON). */
export interface ApiReply {
  status: number;
  json: any;
  text: string;
}

/** The Ceph cluster of a run with images 'rbd' (inside the infra namespace). */
export interface SimCeph {
  dir: string;
  conf: string;
  keyring: string;
  id: string;
  pool: string;
  monAddr: string;
  monPort: number;
  /** ms ceph-start.sh took (mon quorum, OSD up, pool takes I/O). */
  startMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- crash safety: everything a cluster made is undone at exit, whatever happened ---------------

const live = new Set<SimCluster>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const c of live) c.destroySync();
      process.exit(130);
    });
  }
}

let counter = 0;

// ---- freezing a node: every process of its namespace stopped at one instant (a hung host) ---------

/**
 * A freezer cgroup: cgroup v1 (`/sys/fs/cgroup/freezer`, `freezer.state` FROZEN/THAWED) when mounted,
 * else cgroup v2 (`/sys/fs/cgroup/unified` on a hybrid host, or `/sys/fs/cgroup`; `cgroup.freeze` 1/0).
 * `PW_FREEZER=v2` picks v2 where both exist. Processes join through `cgroup.procs` in both (in v1,
 * `tasks` would move a single thread: tgtd's librbd threads and node's workers would keep running).
 * A process that joins a frozen cgroup is frozen at once (both versions).
 */
export class Freezer {
  private constructor(
    readonly kind: 'v1' | 'v2',
    readonly root: string,
    readonly dir: string,
  ) {}

  /** Where freezer cgroups can be made here, or undefined. */
  static hierarchy(): { kind: 'v1' | 'v2'; root: string } | undefined {
    const v1 = '/sys/fs/cgroup/freezer';
    if (process.env.PW_FREEZER !== 'v2' && existsSync(join(v1, 'cgroup.procs'))) return { kind: 'v1', root: v1 };
    for (const root of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) if (existsSync(join(root, 'cgroup.controllers'))) return { kind: 'v2', root };
    return undefined;
  }

  /** Makes (or reuses) the cgroup `name` under the hierarchy's root. */
  static create(name: string): Freezer {
    const h = Freezer.hierarchy();
    if (!h) throw new Error('no freezer cgroup hierarchy (neither /sys/fs/cgroup/freezer nor a cgroup v2 mount)');
    const dir = join(h.root, name);
    mkdirSync(dir, { recursive: true });
    const f = new Freezer(h.kind, h.root, dir);
    if (h.kind === 'v2' && !existsSync(join(dir, 'cgroup.freeze'))) {
      f.removeSync();
      throw new Error(`cgroup v2 at ${h.root} has no cgroup.freeze (kernel < 5.2?)`);
    }
    return f;
  }

  /** Moves pids in; returns the ones that joined (a pid that exited meanwhile is skipped). */
  add(pids: readonly number[]): number[] {
    const joined: number[] = [];
    for (const pid of pids) {
      try {
        writeFileSync(join(this.dir, 'cgroup.procs'), String(pid));
        joined.push(pid);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
      }
    }
    return joined;
  }

  members(): number[] {
    try {
      return readFileSync(join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** One write freezes (or thaws) every member at once. */
  set(frozen: boolean): void {
    if (this.kind === 'v1') writeFileSync(join(this.dir, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED');
    else writeFileSync(join(this.dir, 'cgroup.freeze'), frozen ? '1' : '0');
  }

  /** FROZEN (every member stopped), FREEZING (on its way) or THAWED. */
  state(): 'FROZEN' | 'FREEZING' | 'THAWED' {
    if (this.kind === 'v1') return readFileSync(join(this.dir, 'freezer.state'), 'utf8').trim() as 'FROZEN' | 'FREEZING' | 'THAWED';
    const want = readFileSync(join(this.dir, 'cgroup.freeze'), 'utf8').trim() === '1';
    const is = /^frozen 1$/m.test(readFileSync(join(this.dir, 'cgroup.events'), 'utf8'));
    return is ? 'FROZEN' : want ? 'FREEZING' : 'THAWED';
  }

  /** Thaws, moves every member back to the root cgroup and removes the cgroup (synchronously: also from the exit hook). */
  removeSync(): void {
    if (!existsSync(this.dir)) return;
    try {
      this.set(false);
    } catch {}
    for (let i = 0; i < 100; i++) {
      for (const pid of this.members()) {
        try {
          writeFileSync(join(this.root, 'cgroup.procs'), String(pid));
        } catch {}
      }
      try {
        rmdirSync(this.dir);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || i === 99) throw e;
      }
      // dying members leave a moment later
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** The parent pid of pid (from /proc/<pid>/stat), or undefined once it is gone. */
function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export class SimNode {
  agent: ChildProcess | undefined;
  agentPid: number | undefined;
  readonly dir: string;
  readonly configFile: string;
  readonly mgmtIp: string;
  private wired = false;
  /** This node's freezer cgroup (made at the first freeze, removed by the cluster's teardown). */
  freezer: Freezer | undefined;
  /** Between freeze() and thaw(). */
  frozen = false;
  /** With ClusterOptions.serveOn naming this node: the certificate its `portway serve` printed at its last start. */
  serveTls: ServeTls | undefined;

  constructor(
    private readonly c: SimCluster,
    readonly name: string,
    readonly ns: string,
    readonly index: number,
  ) {
    this.dir = join(c.dir, name);
    this.configFile = join(this.dir, 'settings.json');
    this.mgmtIp = `10.99.0.${10 + index}`;
  }

  /** This node runs `portway serve` (ClusterOptions.serveOn) rather than the agent alone. */
  get serves(): boolean {
    return this.c.opts.serveOn === this.name;
  }

  /** Where its `portway serve` listens (ClusterOptions.serveOn). */
  get apiUrl(): string {
    return `https://${this.mgmtIp}:${SERVE_PORT}`;
  }

  /** Its veths to the three bridges (what `powerOff` pulls out). */
  async wire(): Promise<void> {
    const i = this.index;
    await veth(this.c.infra, `n${i}m`, this.ns, 'eth0');
    await veth(this.c.infra, `n${i}a`, this.ns, 'eth1');
    await veth(this.c.infra, `n${i}b`, this.ns, 'eth2');
    await ipn(this.c.infra, ['link', 'set', `n${i}m`, 'master', 'br0']);
    await ipn(this.c.infra, ['link', 'set', `n${i}a`, 'master', 'br1']);
    await ipn(this.c.infra, ['link', 'set', `n${i}b`, 'master', 'br2']);
    await ipn(this.ns, ['addr', 'add', `${this.mgmtIp}/24`, 'dev', 'eth0']);
    this.wired = true;
  }

  async unwire(): Promise<void> {
    if (!this.wired) return;
    this.wired = false;
    for (const k of ['m', 'a', 'b']) await ipn(this.c.infra, ['link', 'del', `n${this.index}${k}`]).catch(() => undefined);
  }

  writeConfig(): void {
    mkdirSync(this.dir, { recursive: true });
    try {
      symlinkSync(this.c.imageDir, join(this.dir, 'images'));
    } catch {}
    const ceph = this.c.cephSettings();
    if (this.c.opts.join) {
      // What `node join` needs and nothing of the cluster's: those are in etcd (cluster init).
      const local = {
        node: this.name,
        stateDir: this.dir,
        images: ceph ? { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool } : { kind: 'file' },
        coord: this.c.etcdCoord(),
        net: 'iproute',
        interfaces: { subnet1: 'eth1', subnet2: 'eth2' },
        tgtControlPortBase: this.c.controlPortBase + this.index * 50,
        // The node that serves the API listens on its management address (README "Cluster install").
        ...(this.serves ? { listenHost: this.mgmtIp, listenPort: SERVE_PORT } : {}),
      };
      writeFileSync(this.configFile, JSON.stringify(local, null, 2));
      return;
    }
    const settings = {
      stateDir: this.dir,
      node: this.name,
      cluster: this.c.config,
      images: ceph ? { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool } : { kind: 'file' },
      coord: this.c.etcdCoord(),
      agent: { enabled: true, leaseTtlSeconds: this.c.opts.leaseTtlSeconds, ...this.c.agentSettings },
      net: 'iproute',
      tgtControlPortBase: this.c.controlPortBase + this.index * 50,
      ...(this.serves ? { listenHost: this.mgmtIp, listenPort: SERVE_PORT } : {}),
    };
    writeFileSync(this.configFile, JSON.stringify(settings, null, 2));
  }

  /**
   * Starts `portway agent` (`node join` with ClusterOptions.join; `portway serve` on the serveOn node)
   * inside the namespace and waits until it has joined and reconciled (serve: until it listens).
   */
  async startAgent(): Promise<number> {
    if (this.agentPid && alive(this.agentPid)) throw new Error(`${this.name}: agent already running`);
    const log = join(this.dir, 'agent.log');
    // Straight to a file: a pipe to this (busy) test process could fill up and block the agent's
    // synchronous log writes, stalling its event loop and so its lease renewals.
    const fd = openSync(log, 'a');
    const from = statSync(log).size;
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        process.execPath,
        '--import',
        'tsx',
        join(REPO, 'src/cli/portway.ts'),
        ...(this.serves ? ['serve'] : this.c.opts.join ? ['node', 'join'] : ['agent']),
        '--config',
        this.configFile,
      ],
      {
        cwd: REPO,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, LOG_LEVEL: this.c.opts.logLevel ?? 'info', ...(this.serves ? { PORTWAY_ADMIN_PASSWORD: ADMIN_PASSWORD } : {}) },
      },
    );
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`${this.name}: agent did not start`);
    this.agent = child;
    this.agentPid = child.pid; // `ip netns exec` execs the command: same pid
    this.c.trackPid(child.pid);
    let exited: string | undefined;
    child.once('exit', (code, sig) => {
      exited = String(code ?? sig);
      if (this.agent === child) this.agent = undefined;
    });
    await waitUntil(
      `${this.name}: agent ready (see ${log})`,
      () => {
        if (exited !== undefined) throw new Error(`${this.name}: agent exited (${exited}) before it was ready; see ${log}`);
        return (
          readFileSync(log, 'utf8')
            .slice(from)
            .includes(this.serves ? '"PORTWAY_READY"' : 'PORTWAY_AGENT_READY') || undefined
        );
      },
      90_000,
      50,
    );
    if (this.serves) {
      const line = /^PORTWAY_TLS_CERT (made \(self-signed\)|loaded) (\S+) sha256=(\S+) spki-sha256=(\S+)$/m.exec(readFileSync(log, 'utf8').slice(from));
      if (!line) throw new Error(`${this.name}: portway serve printed no PORTWAY_TLS_CERT line; see ${log}`);
      this.serveTls = { generated: line[1] !== 'loaded', certFile: line[2] as string, fingerprint256: line[3] as string, spkiSha256: line[4] as string };
    }
    return child.pid;
  }

  /** Signals the agent and waits for it to exit (SIGKILL after timeoutMs). */
  async stopAgent(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    // a frozen process takes no signal until it is thawed (cgroup v1: not even SIGKILL)
    if (this.frozen) await this.thaw();
    const pid = this.agentPid;
    if (!pid || !alive(pid)) return;
    killPid(pid, sig);
    const end = Date.now() + timeoutMs;
    while (alive(pid) && Date.now() < end) await sleep(25);
    if (alive(pid)) killPid(pid, 'SIGKILL');
    while (alive(pid)) await sleep(10);
    this.agentPid = undefined;
  }

  /** SIGTERM (paths given back), then a new agent with the current settings.json (SimCluster.setAgentSettings). */
  async restartAgent(): Promise<number> {
    await this.stopAgent('SIGTERM');
    this.writeConfig();
    return this.startAgent();
  }

  killAgent(): void {
    if (this.agentPid) killPid(this.agentPid, 'SIGKILL');
  }

  /** The fence guard's pid (from its pid file, checked against /proc), or undefined if none runs. */
  guardPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dir, 'run', 'guard.pid'), 'utf8').trim());
      return Number.isInteger(pid) && pid > 1 && alive(pid) && cmdline(pid).includes('agent-guard') ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  guardLogText(): string {
    try {
      return readFileSync(join(this.dir, 'log', 'guard.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** The tgtds this node's agent runs, one per disk (from its driver's state files, checked against /proc). */
  tgtds(): { ip: string; pid: number; disk: string; portals: string[] }[] {
    const runDir = join(this.dir, 'run', 'tgt');
    const out: { ip: string; pid: number; disk: string; portals: string[] }[] = [];
    let files: string[] = [];
    try {
      files = readdirSync(runDir).filter((f) => f.endsWith('.json'));
    } catch {
      return out;
    }
    for (const f of files) {
      try {
        const s = JSON.parse(readFileSync(join(runDir, f), 'utf8')) as { ip: string; pid: number; disk?: string; portals?: string[]; warm?: string };
        if (s.warm) continue; // an idle tgtd of the warm pool: serves nothing (warmTgtds())
        if (alive(s.pid) && cmdline(s.pid)[0]?.endsWith('tgtd')) out.push({ ip: s.ip, pid: s.pid, disk: s.disk ?? '', portals: s.portals ?? [s.ip] });
      } catch {}
    }
    return out.sort((a, b) => (a.ip < b.ip ? -1 : 1));
  }

  /** Idle tgtds of the agent's warm pool (their records, checked against /proc). */
  warmTgtds(): { pid: number; controlPort: number }[] {
    const runDir = join(this.dir, 'run', 'tgt');
    const out: { pid: number; controlPort: number }[] = [];
    let files: string[] = [];
    try {
      files = readdirSync(runDir).filter((f) => f.startsWith('warm-') && f.endsWith('.json'));
    } catch {
      return out;
    }
    for (const f of files) {
      try {
        const s = JSON.parse(readFileSync(join(runDir, f), 'utf8')) as { pid: number; controlPort: number };
        if (alive(s.pid) && cmdline(s.pid)[0]?.endsWith('tgtd')) out.push({ pid: s.pid, controlPort: s.controlPort });
      } catch {}
    }
    return out;
  }

  killTgtds(): number[] {
    const pids = this.tgtds().map((t) => t.pid);
    for (const p of pids) killPid(p, 'SIGKILL');
    return pids;
  }

  /** Path IPs on this node's interfaces now. */
  async pathIps(): Promise<string[]> {
    return (await addrs(this.ns))
      .filter((a) => this.c.isPathIp(a.ip))
      .map((a) => a.ip)
      .sort();
  }

  /** A hard crash: agent and tgtds SIGKILLed, then its cables pulled (its IPs go with its links). */
  async powerOff(): Promise<{ killedAt: number }> {
    this.killAgent();
    this.killTgtds();
    const killedAt = Date.now();
    for (const p of pidsInNamespaces(new Set([namespaceInode(this.ns) ?? -1]))) killPid(p, 'SIGKILL');
    // Frozen: the SIGKILLs are taken at the thaw, before any of them runs another instruction.
    if (this.frozen) await this.thaw();
    await this.unwire();
    return { killedAt };
  }

  async powerOn(): Promise<void> {
    if (!this.wired) await this.wire();
    await this.startAgent();
  }

  /**
   * The processes of this node's namespace (agent, fence guard, tgtds and whatever they run), not the
   * harness's own short-lived `ip -n NS ...` calls (children of this test process, like the agent,
   * but not the agent): the IP watcher's would hang, frozen, until the thaw.
   */
  private nodePids(): number[] {
    return pidsInNamespaces(new Set([namespaceInode(this.ns) ?? -1])).filter((p) => p === this.agentPid || ppidOf(p) !== process.pid);
  }

  /**
   * A hung host: every process of the node (agent, fence guard, tgtds, a CLI the agent runs) stopped at
   * the same instant, by one write to its freezer cgroup; the kernel's side stays (its path IPs stay on
   * its links, TCP takes data into its sockets). They join the cgroup thawed, then one write freezes
   * them all; a process forked meanwhile by one not yet moved is found by listing the namespace again
   * and joins the frozen cgroup (frozen on joining), until a listing finds nothing new.
   * Returns when the kernel reports the cgroup FROZEN.
   */
  async freeze(timeoutMs = 10_000): Promise<{ frozenAt: number; pids: number[] }> {
    if (this.frozen) throw new Error(`${this.name} is frozen already`);
    this.freezer ??= Freezer.create(`${this.c.id}-${this.name}`);
    const f = this.freezer;
    f.add(this.nodePids());
    f.set(true);
    const frozenAt = Date.now();
    this.frozen = true;
    for (let round = 0; ; round++) {
      const inside = new Set(f.members());
      const missing = this.nodePids().filter((p) => !inside.has(p));
      if (f.add(missing).length === 0) break;
      if (round > 100) throw new Error(`${this.name}: processes keep appearing while freezing (${missing.join(' ')})`);
    }
    await waitUntil(`${this.name} frozen (${f.dir})`, () => f.state() === 'FROZEN', timeoutMs, 5);
    return { frozenAt, pids: f.members() };
  }

  /** Every process of the node runs again, all at once (one write). */
  async thaw(timeoutMs = 10_000): Promise<{ thawedAt: number }> {
    const f = this.freezer;
    if (!f || !this.frozen) throw new Error(`${this.name} is not frozen`);
    f.set(false);
    const thawedAt = Date.now();
    this.frozen = false;
    await waitUntil(`${this.name} thawed (${f.dir})`, () => f.state() === 'THAWED', timeoutMs, 5);
    return { thawedAt };
  }

  /** Cuts the management link (etcd unreachable); the iSCSI links stay up. */
  async cutManagement(): Promise<void> {
    await ipn(this.ns, ['link', 'set', 'eth0', 'down']);
  }

  async restoreManagement(): Promise<void> {
    await ipn(this.ns, ['link', 'set', 'eth0', 'up']);
  }

  logText(): string {
    try {
      return readFileSync(join(this.dir, 'agent.log'), 'utf8');
    } catch {
      return '';
    }
  }
}

export class SimCluster {
  readonly id: string;
  readonly dir: string;
  readonly infra: string;
  readonly client: string;
  readonly imageDir: string;
  readonly nodes: SimNode[] = [];
  readonly controlPortBase: number;
  readonly config: ClusterConfig = {
    iqnBase: 'iqn.2016-05.io.portway.ha',
    pool: 'rbd',
    subnet1: { cidr: '10.99.1.0/24', autoIpFrom: '10.99.1.10', autoIpTo: '10.99.1.200', eth: 'eth1' },
    subnet2: { cidr: '10.99.2.0/24', autoIpFrom: '10.99.2.10', autoIpTo: '10.99.2.200', eth: 'eth2' },
  };
  /** Set with images 'rbd' once Ceph is up. */
  ceph: SimCeph | undefined;
  /** The test process's image store (file, or RBD through the infra namespace). */
  images!: ImageStore;
  store!: EtcdStore;
  disks!: DiskService;
  paths!: PathService;
  watcher!: IpWatcher;
  private forward: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly pids = new Set<number>();
  private readonly namespaces: string[] = [];
  private readonly inodes = new Set<number>();
  private destroyed = false;
  /** Extra `agent` settings written into every node's settings.json (ClusterOptions.agent; setAgentSettings). */
  agentSettings: NonNullable<ClusterOptions['agent']>;

  private constructor(readonly opts: ClusterOptions) {
    const k = counter++;
    this.id = `pw-${process.pid}${k ? `-${k}` : ''}`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.id}-`));
    this.infra = `${this.id}-infra`;
    this.client = `${this.id}-cl`;
    this.imageDir = join(this.dir, 'images');
    this.controlPortBase = 21_000 + (process.pid % 40) * 250 + k * 200;
    this.cephDir = join(this.dir, 'ceph');
    // Inside this run's own infra namespace no other run can bind anything; unique anyway.
    this.cephMonPort = 40_000 + ((process.pid * 8 + k * 2) % 20_000);
    this.agentSettings = { ...(opts.agent ?? {}) };
  }

  /** New extra `agent` settings for every node, written now; each agent reads them at its next start (restartAgent). */
  setAgentSettings(agent: NonNullable<ClusterOptions['agent']>): void {
    this.agentSettings = { ...agent };
    for (const n of this.nodes) n.writeConfig();
  }

  readonly cephDir: string;
  readonly cephMonPort: number;

  get imageKind(): 'file' | 'rbd' {
    return this.opts.images ?? 'file';
  }

  /** Where the nodes find Ceph (known before it runs), or undefined with file images. */
  cephSettings(): Pick<SimCeph, 'conf' | 'keyring' | 'id' | 'pool'> | undefined {
    if (this.imageKind !== 'rbd') return undefined;
    return { conf: join(this.cephDir, 'ceph.conf'), keyring: join(this.cephDir, 'keyring'), id: 'admin', pool: this.config.pool };
  }

  /**
   * Removes what an earlier run that was SIGKILLed (no exit hook) left: namespaces named
   * pw-<pid>-... whose <pid> is gone, and every process still inside them (by PID).
   */
  static reapStale(): string[] {
    let names: string[] = [];
    try {
      names = readdirSync('/run/netns');
    } catch {
      return [];
    }
    const stale = names.filter((n) => {
      const m = /^pw-(\d+)(?:-\d+)?-(?:infra|cl|n\d+)$/.exec(n);
      return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
    });
    const inodes = new Set(stale.map((n) => namespaceInode(n)).filter((x): x is number => x !== undefined));
    for (const pid of pidsInNamespaces(inodes)) killPid(pid, 'SIGKILL');
    for (const n of stale) deleteNamespaceSync(n);
    // Freezer cgroups of a dead run: thawed (a frozen process in cgroup v1 does not even die of SIGKILL),
    // emptied, removed. Their processes were in the namespaces above: killed, dead once thawed.
    const h = Freezer.hierarchy();
    let groups: string[] = [];
    try {
      groups = h ? readdirSync(h.root) : [];
    } catch {}
    for (const g of groups) {
      const m = /^pw-(\d+)(?:-\d+)?-n\d+$/.exec(g);
      if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
      try {
        Freezer.create(g).removeSync();
      } catch {}
    }
    return stale;
  }

  static async start(opts: ClusterOptions): Promise<SimCluster> {
    SimCluster.reapStale();
    const c = new SimCluster(opts);
    live.add(c);
    hookExit();
    try {
      await c.build();
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  trackPid(pid: number): void {
    this.pids.add(pid);
  }

  isPathIp(ip: string): boolean {
    return ip.startsWith('10.99.1.') || ip.startsWith('10.99.2.');
  }

  node(name: string): SimNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  private async makeNs(ns: string): Promise<void> {
    this.namespaces.push(ns);
    await addNamespace(ns);
    const ino = namespaceInode(ns);
    if (ino !== undefined) this.inodes.add(ino);
  }

  private async build(): Promise<void> {
    mkdirSync(this.imageDir, { recursive: true });
    await this.makeNs(this.infra);
    for (const [i, br] of ['br0', 'br1', 'br2'].entries()) {
      // A fixed MAC: a bridge otherwise takes its lowest port's, and changes it (breaking every
      // neighbour's ARP entry for infra) when that port goes, e.g. when a node is powered off.
      await ipn(this.infra, ['link', 'add', br, 'address', `02:99:00:00:00:0${i}`, 'type', 'bridge']);
      await ipn(this.infra, ['link', 'set', br, 'up']);
    }
    await ipn(this.infra, ['addr', 'add', `${INFRA_MGMT}/24`, 'dev', 'br0']);
    // Ceph starts now and comes up while the rest is built (it needs only infra and its address).
    const cephUp = this.imageKind === 'rbd' ? this.startCeph() : undefined;
    // a failed start is reported below, after the other steps (no unhandled rejection meanwhile)
    cephUp?.catch(() => undefined);
    await this.makeNs(this.client);
    await veth(this.infra, 'c1', this.client, 'eth1');
    await veth(this.infra, 'c2', this.client, 'eth2');
    await ipn(this.infra, ['link', 'set', 'c1', 'master', 'br1']);
    await ipn(this.infra, ['link', 'set', 'c2', 'master', 'br2']);
    await ipn(this.client, ['addr', 'add', '10.99.1.250/24', 'dev', 'eth1']);
    await ipn(this.client, ['addr', 'add', '10.99.2.250/24', 'dev', 'eth2']);
    if (this.opts.serveOn) {
      // The API's clients (curl, the CLI) reach `portway serve` on the management bridge.
      await veth(this.infra, 'c0', this.client, 'eth0');
      await ipn(this.infra, ['link', 'set', 'c0', 'master', 'br0']);
      await ipn(this.client, ['addr', 'add', `${CLIENT_MGMT}/24`, 'dev', 'eth0']);
    }
    for (let i = 1; i <= this.opts.nodes; i++) {
      const n = new SimNode(this, `n${i}`, `${this.id}-n${i}`, i);
      this.nodes.push(n);
      await this.makeNs(n.ns);
      await n.wire();
      n.writeConfig();
    }
    await this.startEtcd();
    await this.startForward();
    const port = (this.forward?.address() as { port: number } | null)?.port;
    if (this.opts.etcdTls) await this.enableEtcdAuth();
    this.store = new EtcdStore({
      hosts: [`http://127.0.0.1:${port}`],
      callTimeoutMs: 5000,
      ...(this.opts.etcdTls ? { auth: { username: 'root', password: ETCD_ROOT_PASSWORD } } : {}),
    });
    await waitUntil(
      'etcd through the forwarded socket',
      async () =>
        (await this.store.list('/portway/').then(
          () => true,
          () => false,
        )) || undefined,
      20_000,
      100,
    );
    const checked = checkConfig(this.config);
    if (!checked.ok) throw new Error(checked.message);
    const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });
    if (cephUp) {
      this.ceph = await cephUp;
      this.images = new RbdImageStore({
        conf: this.ceph.conf,
        keyring: this.ceph.keyring,
        id: this.ceph.id,
        pool: this.ceph.pool,
        prefix: ['ip', 'netns', 'exec', this.infra],
      });
    } else this.images = await new FileImageStore(this.imageDir).init();
    const images = this.images;
    this.disks = new DiskService({
      store: this.store,
      images,
      subnet1: checked.subnet1,
      subnet2: checked.subnet2,
      iqnBase: this.config.iqnBase,
      pool: this.config.pool,
      log,
    });
    this.paths = new PathService({ store: this.store, log, pollMs: 50 });
    this.watcher = new IpWatcher(
      () => new Map(this.nodes.map((n) => [n.name, n.ns])),
      (ip) => this.isPathIp(ip),
    );
    this.watcher.start();
    if (this.opts.join) await this.clusterInit();
    await Promise.all(this.nodes.map((n) => n.startAgent()));
  }

  /** `portway cluster init` in n1's namespace: the cluster settings (this.config) as flags, the first admin's password from the environment. */
  async clusterInit(): Promise<string> {
    const n1 = this.nodes[0] as SimNode;
    const c = this.config;
    const r = await run(
      'ip',
      [
        'netns',
        'exec',
        n1.ns,
        process.execPath,
        '--import',
        'tsx',
        join(REPO, 'src/cli/portway.ts'),
        'cluster',
        'init',
        '--config',
        n1.configFile,
        '--iqn-base',
        c.iqnBase,
        '--subnet1',
        c.subnet1.cidr,
        '--subnet1-range',
        `${c.subnet1.autoIpFrom}-${c.subnet1.autoIpTo}`,
        '--subnet2',
        c.subnet2.cidr,
        '--subnet2-range',
        `${c.subnet2.autoIpFrom}-${c.subnet2.autoIpTo}`,
        '--lease-ttl',
        String(this.opts.leaseTtlSeconds),
      ],
      { env: { ...process.env, PORTWAY_ADMIN_PASSWORD: ADMIN_PASSWORD }, timeoutMs: 60_000 },
    );
    return r.stdout;
  }

  /** `portway node <args>` in a node's namespace (exit code and output; a failure is no exception). */
  async nodeCli(name: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string; err: string }> {
    const n = this.node(name);
    try {
      const r = await run('ip', ['netns', 'exec', n.ns, process.execPath, '--import', 'tsx', join(REPO, 'src/cli/portway.ts'), ...args], {
        timeoutMs,
      });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { exitCode?: number; stdout?: string; stderr?: string; message: string };
      return { code: x.exitCode ?? -1, out: x.stdout ?? '', err: x.stderr ?? x.message };
    }
  }

  private etcdScheme(): 'http' | 'https' {
    return this.opts.etcdTls ? 'https' : 'http';
  }

  get tlsDir(): string {
    return join(this.dir, 'etcd-tls');
  }

  /** The `coord` of a node's file: etcd on the management bridge (with etcdTls: CA, client certificate, user root). */
  etcdCoord(): Record<string, unknown> {
    const endpoints = [`${this.etcdScheme()}://${ETCD_MGMT}:2379`];
    if (!this.opts.etcdTls) return { kind: 'etcd', endpoints };
    const t = this.tlsDir;
    return {
      kind: 'etcd',
      endpoints,
      ca: join(t, 'ca.pem'),
      cert: join(t, 'client.pem'),
      key: join(t, 'client.key'),
      username: 'root',
      passwordFile: join(t, 'root-password'),
    };
  }

  /** A CA, etcd's server certificate (10.99.0.1) and a client certificate, with openssl; the root password file. */
  private async makeEtcdCerts(): Promise<void> {
    const t = this.tlsDir;
    mkdirSync(t, { recursive: true, mode: 0o700 });
    const ossl = (args: string[]) => run('openssl', args, { timeoutMs: 30_000 });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await ossl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      join(t, 'ca.key'),
      '-out',
      join(t, 'ca.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=pw-harness-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    for (const who of ['server', 'client']) {
      await ossl(['req', ...ec, '-keyout', join(t, `${who}.key`), '-out', join(t, `${who}.csr`), '-subj', `/CN=pw-harness-${who}`]);
      writeFileSync(join(t, `${who}.ext`), `subjectAltName=IP:${ETCD_MGMT},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`);
      await ossl([
        'x509',
        '-req',
        '-in',
        join(t, `${who}.csr`),
        '-CA',
        join(t, 'ca.pem'),
        '-CAkey',
        join(t, 'ca.key'),
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        join(t, `${who}.ext`),
        '-out',
        join(t, `${who}.pem`),
      ]);
    }
    writeFileSync(join(t, 'root-password'), `${ETCD_ROOT_PASSWORD}\n`, { mode: 0o600 });
  }

  /** User root with its password, then authentication on (etcdctl inside infra, over TLS with the client certificate). */
  private async enableEtcdAuth(): Promise<void> {
    const t = this.tlsDir;
    const ctl = (args: string[], input?: string) =>
      run(
        'ip',
        [
          'netns',
          'exec',
          this.infra,
          'etcdctl',
          `--endpoints=https://${ETCD_MGMT}:2379`,
          `--cacert=${join(t, 'ca.pem')}`,
          `--cert=${join(t, 'client.pem')}`,
          `--key=${join(t, 'client.key')}`,
          '--dial-timeout=5s',
          ...args,
        ],
        { env: { ...process.env, ETCDCTL_API: '3' }, timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) },
      );
    await waitUntil(
      'etcd answering over TLS',
      async () =>
        (await ctl(['endpoint', 'health']).then(
          () => true,
          () => false,
        )) || undefined,
      20_000,
      200,
    );
    await ctl(['user', 'add', 'root', '--interactive=false'], `${ETCD_ROOT_PASSWORD}\n`);
    await ctl(['user', 'grant-role', 'root', 'root']);
    await ctl(['auth', 'enable']);
  }

  private async startEtcd(): Promise<void> {
    if (this.opts.etcdTls) await this.makeEtcdCerts();
    const data = join(this.dir, 'etcd');
    const fd = openSync(join(this.dir, 'etcd.log'), 'a');
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.infra,
        'etcd',
        '--name=infra',
        `--data-dir=${data}`,
        // the nodes reach it on the management bridge; the test process through the unix socket
        `--listen-client-urls=${this.etcdScheme()}://${ETCD_MGMT}:2379,unix://etcd.sock:0`,
        `--advertise-client-urls=${this.etcdScheme()}://${ETCD_MGMT}:2379`,
        ...(this.opts.etcdTls
          ? [
              `--cert-file=${join(this.tlsDir, 'server.pem')}`,
              `--key-file=${join(this.tlsDir, 'server.key')}`,
              `--trusted-ca-file=${join(this.tlsDir, 'ca.pem')}`,
              '--client-cert-auth',
            ]
          : []),
        '--listen-peer-urls=http://127.0.0.1:2380',
        '--initial-advertise-peer-urls=http://127.0.0.1:2380',
        '--initial-cluster=infra=http://127.0.0.1:2380',
        `--initial-cluster-token=${this.id}`,
        '--heartbeat-interval=100',
        '--election-timeout=1000',
        '--logger=zap',
        '--log-outputs=stderr',
      ],
      { cwd: this.dir, stdio: ['ignore', fd, fd], detached: true },
    );
    closeSync(fd);
    if (child.pid === undefined) throw new Error('etcd did not start');
    child.unref();
    this.trackPid(child.pid);
  }

  /**
   * A one-node Ceph inside infra (scripts/ceph-start.sh run there): mon on 10.99.0.1:<port unique to
   * the run>, the OSD and mgr on the same address (public network 10.99.0.0/24), data, sockets, PID
   * files and logs in <run dir>/ceph. Teardown kills its daemons by the PIDs in their PID files.
   */
  private async startCeph(): Promise<SimCeph> {
    const settings = this.cephSettings() as NonNullable<ReturnType<SimCluster['cephSettings']>>;
    const env = {
      ...process.env,
      CEPH_DIR: this.cephDir,
      CEPH_MON_ADDR: INFRA_MGMT,
      CEPH_MON_PORT: String(this.cephMonPort),
      CEPH_PUBLIC_NETWORK: '10.99.0.0/24',
      CEPH_OBJECTSTORE: this.opts.cephObjectStore ?? 'memstore',
      CEPH_STORE_BYTES: String(2 * 1024 ** 3),
      CEPH_POOL: settings.pool,
      // done when the pool takes I/O; nothing here reads the mgr's stats
      CEPH_WAIT_MGR: '0',
      CEPH_WAIT_SECONDS: '90',
      CEPH_EXTRA_CONF: (this.opts.cephConf ?? []).join('\n'),
    };
    const t0 = Date.now();
    try {
      await run('ip', ['netns', 'exec', this.infra, 'bash', join(REPO, 'scripts', 'ceph-start.sh')], { env, timeoutMs: 120_000 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`Ceph did not start in ${this.infra}: ${(err.stderr ?? err.message).trim().split('\n').slice(-15).join('\n')}`);
    }
    const startMs = Date.now() - t0;
    return { dir: this.cephDir, ...settings, monAddr: INFRA_MGMT, monPort: this.cephMonPort, startMs };
  }

  /** PIDs of this run's Ceph daemons (from their PID files, each checked to be that daemon). */
  cephPids(): number[] {
    const out: number[] = [];
    let files: string[] = [];
    try {
      files = readdirSync(join(this.cephDir, 'run')).filter((f) => /^(mon|mgr|osd)\.[^.]+\.pid$/.test(f));
    } catch {
      return out;
    }
    for (const f of files) {
      const pid = Number(readFileSync(join(this.cephDir, 'run', f), 'utf8').trim());
      if (Number.isInteger(pid) && pid > 1 && alive(pid) && (cmdline(pid)[0] ?? '').endsWith(`ceph-${f.split('.')[0]}`)) out.push(pid);
    }
    return out;
  }

  /** Runs a Ceph CLI (ceph, rbd, rados) inside infra, as client.admin of this run's cluster. */
  cephRun(tool: 'ceph' | 'rbd' | 'rados', args: string[], timeoutMs = 30_000) {
    const ceph = this.ceph;
    if (!ceph) throw new Error('this cluster runs no Ceph (images: file)');
    return run('ip', ['netns', 'exec', this.infra, tool, '-c', ceph.conf, '--id', ceph.id, '--keyring', ceph.keyring, ...args], { timeoutMs });
  }

  /** 127.0.0.1:<port> in the root namespace -> etcd's unix socket (inside the run dir). */
  private async startForward(): Promise<void> {
    const path = join(this.dir, 'etcd.sock:0');
    await waitUntil(
      'etcd unix socket',
      () => {
        try {
          return readdirSync(this.dir).includes('etcd.sock:0') || undefined;
        } catch {
          return undefined;
        }
      },
      20_000,
    );
    this.forward = createServer((down) => {
      const up = connect(path);
      this.sockets.add(down);
      this.sockets.add(up);
      const close = () => {
        down.destroy();
        up.destroy();
        this.sockets.delete(down);
        this.sockets.delete(up);
      };
      down.on('error', close).on('close', close);
      up.on('error', close).on('close', close);
      down.pipe(up).pipe(down);
    });
    await new Promise<void>((res) => this.forward?.listen(0, '127.0.0.1', () => res()));
  }

  /** Runs a command inside the client namespace. */
  clientRun(cmd: string, args: string[], timeoutMs = 30_000) {
    return run('ip', ['netns', 'exec', this.client, cmd, ...args], { timeoutMs });
  }

  /** The node that runs `portway serve` (ClusterOptions.serveOn). */
  get server(): SimNode {
    if (!this.opts.serveOn) throw new Error('this cluster runs no portway serve (ClusterOptions.serveOn)');
    return this.node(this.opts.serveOn);
  }

  /** The certificate `portway serve` made at its first start (printed on its PORTWAY_TLS_CERT line). */
  get serveTls(): ServeTls {
    const t = this.server.serveTls;
    if (!t) throw new Error(`${this.server.name}: portway serve has not started`);
    return t;
  }

  /** curl inside the client namespace (-sS added); the exit code and output, never an exception. */
  async clientCurl(args: string[], timeoutMs = 30_000): Promise<CurlResult> {
    try {
      const r = await this.clientRun('curl', ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000) - 1), ...args], timeoutMs);
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { exitCode?: number; stdout?: string; stderr?: string; message: string };
      return { code: x.exitCode ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? x.message };
    }
  }

  private get cookieJar(): string {
    return join(this.dir, 'client-cookies.txt');
  }

  /** The CSRF token of the session login() opened (sent by api() on every call unless told not to). */
  csrfToken: string | undefined;

  /**
   * One API call from the client namespace over HTTPS to the serveOn node: curl trusting exactly the
   * certificate the product made (--cacert), the session cookie jar, the CSRF header of the session
   * (csrf: false leaves it out), a JSON body.
   */
  async api(
    method: string,
    path: string,
    body?: unknown,
    opts: { csrf?: boolean; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<ApiReply> {
    const args = ['--cacert', this.serveTls.certFile, '-b', this.cookieJar, '-c', this.cookieJar, '-X', method, '-w', '\n%{http_code}'];
    if (opts.csrf !== false && this.csrfToken) args.push('-H', `x-csrf-token: ${this.csrfToken}`);
    for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
    const r = await this.clientCurl([...args, `${this.server.apiUrl}${path}`], opts.timeoutMs ?? 60_000);
    if (r.code !== 0) throw new Error(`curl ${method} ${path} failed (exit ${r.code}): ${r.stderr.trim()}`);
    const cut = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, cut);
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: Number(r.stdout.slice(cut + 1)), json, text };
  }

  /** Logs in through the API (cookie into the jar, CSRF token kept for api()); the reply. */
  async login(username = 'admin', password = ADMIN_PASSWORD): Promise<ApiReply> {
    rmSync(this.cookieJar, { force: true });
    this.csrfToken = undefined;
    const r = await this.api('POST', '/api/v1/auth/login', { username, password });
    if (r.status === 200) this.csrfToken = r.json?.csrfToken;
    return r;
  }

  lunUrl(ip: string, iqn: string): string {
    return `iscsi://${ip}/${iqn}/1`;
  }

  /** SCSI INQUIRY through one path, from the client; the unit serial. */
  async inquiry(ip: string, iqn: string, timeoutMs = 10_000): Promise<string> {
    const { stdout } = await this.clientRun('iscsi-inq', ['-i', INITIATOR, '-e', '1', '-c', '128', this.lunUrl(ip, iqn)], timeoutMs);
    const m = /Unit Serial Number:\[\s*([^\]\s]+)\s*\]/i.exec(stdout);
    return m?.[1] ?? stdout.trim();
  }

  async writePattern(ip: string, iqn: string, pattern: number, offset: number, len: number): Promise<void> {
    const { stdout } = await this.clientRun('qemu-io', ['-f', 'raw', '-c', `write -P ${pattern} ${offset} ${len}`, `${this.lunUrl(ip, iqn)}`], 60_000);
    if (!stdout.includes(`wrote ${len}/${len}`)) throw new Error(`write failed: ${stdout}`);
  }

  async verifyPattern(ip: string, iqn: string, pattern: number, offset: number, len: number): Promise<boolean> {
    try {
      const { stdout } = await this.clientRun('qemu-io', ['-f', 'raw', '-c', `read -P ${pattern} ${offset} ${len}`, this.lunUrl(ip, iqn)], 60_000);
      if (stdout.includes('Pattern verification failed')) return false;
      if (!stdout.includes(`read ${len}/${len}`)) throw new Error(`read failed: ${stdout}`);
      return true;
    } catch (e) {
      if (`${(e as { stdout?: string }).stdout ?? ''}`.includes('Pattern verification failed')) return false;
      throw e;
    }
  }

  /** Path n of disk id -> owner node and state, from etcd. */
  async owners(id: string): Promise<Map<number, { node: string; state: string }>> {
    const out = new Map<number, { node: string; state: string }>();
    for (const kv of await this.store.list(`/portway/owners/${id}/`)) out.set(Number(kv.key.split('/').pop()), JSON.parse(kv.value));
    return out;
  }

  /** Waits until every path of disk id is served, and returns its paths. */
  async waitServed(id: string, timeoutMs = 20_000, exclude: string[] = []) {
    return waitUntil(
      `every path of ${id} served${exclude.length ? ` (not by ${exclude.join(',')})` : ''}`,
      async () => {
        const r = await this.disks.paths(id);
        if (!r.ok) return undefined;
        return r.paths.every((p) => p.state === 'served' && p.node && !exclude.includes(p.node)) ? r.paths : undefined;
      },
      timeoutMs,
      50,
    );
  }

  /** Waits until every one of paths answers INQUIRY from the client with disk id's serial (`PW<id>`). */
  async waitAnswering(paths: readonly { ip: string }[], iqn: string, id: string, timeoutMs = 20_000): Promise<void> {
    await waitUntil(
      `every path of ${id} answering`,
      async () => {
        for (const p of paths) if ((await this.inquiry(p.ip, iqn, 3000).catch(() => '')) !== `PW${id}`) return undefined;
        return true;
      },
      timeoutMs,
      50,
    );
  }

  /** Waits until disk id's status is started. */
  async waitStarted(id: string, timeoutMs = 10_000): Promise<void> {
    await waitUntil(
      `${id} started`,
      async () => {
        const d = await this.disks.get(id);
        return d.ok && d.disk.status === 'started' ? true : undefined;
      },
      timeoutMs,
    );
  }

  /**
   * Stops the IP watcher and asserts that it sampled and that no path IP was ever on two nodes at once
   * (the end of every HA test).
   */
  async assertNoIpOnTwoNodes(): Promise<void> {
    await this.watcher.stop();
    assert.ok(this.watcher.rounds > 20, `the watcher sampled (${this.watcher.rounds} rounds)`);
    assert.deepEqual(this.watcher.overlaps(), [], 'no IP was on two nodes at once');
    process.stderr.write(
      `# ip watcher: ${this.watcher.rounds} rounds, ${this.watcher.sameRound()} same-round sightings (moves between two reads), 0 overlaps\n`,
    );
  }

  /** Stops everything this cluster started and deletes its namespaces and files. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.watcher?.stop().catch(() => undefined);
    // Agents give their paths back (SIGTERM), then anything left is killed by PID.
    await Promise.all(this.nodes.map((n) => n.stopAgent('SIGTERM', 5000).catch(() => undefined)));
    await this.store?.close().catch(() => undefined);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((res) => (this.forward ? this.forward.close(() => res()) : res()));
    this.destroySync();
  }

  /** The synchronous part of destroy (also the exit hook's): kill by PID, delete namespaces and files. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    // Frozen nodes are thawed first: a frozen process takes no signal (cgroup v1: not even SIGKILL).
    for (const n of this.nodes) {
      try {
        n.freezer?.set(false);
      } catch {}
      n.frozen = false;
    }
    for (const n of this.nodes) for (const t of [...n.tgtds(), ...n.warmTgtds()]) killPid(t.pid, 'SIGKILL');
    // Ceph's daemons by the PIDs in their PID files (also when the start failed half way)
    for (const pid of this.cephPids()) killPid(pid, 'SIGKILL');
    for (const pid of this.pids) if (alive(pid)) killPid(pid, 'SIGKILL');
    for (let round = 0; round < 3; round++) {
      const left = pidsInNamespaces(this.inodes);
      if (left.length === 0) break;
      for (const pid of left) killPid(pid, 'SIGKILL');
    }
    // tgtd control sockets of this run's tgtds
    for (const n of this.nodes) {
      try {
        for (const f of readdirSync(join(n.dir, 'run', 'tgt'))) {
          const s = JSON.parse(readFileSync(join(n.dir, 'run', 'tgt', f), 'utf8')) as { controlPort?: number };
          if (s.controlPort) {
            rmSync(`/var/run/tgtd/socket.${s.controlPort}`, { force: true });
            rmSync(`/var/run/tgtd/socket.${s.controlPort}.lock`, { force: true });
          }
        }
      } catch {}
    }
    for (const n of this.nodes) {
      try {
        n.freezer?.removeSync();
      } catch (e) {
        process.stderr.write(`# ${n.name}: freezer cgroup ${n.freezer?.dir} not removed: ${(e as Error).message}\n`);
      }
    }
    for (const ns of [...this.namespaces].reverse()) deleteNamespaceSync(ns);
    if (process.env.PW_KEEP_HA_DIR !== '1') rmSync(this.dir, { recursive: true, force: true });
  }

  /** Async namespace removal (unused by destroySync, kept for callers that want it). */
  async deleteNamespaces(): Promise<void> {
    for (const ns of [...this.namespaces].reverse()) await deleteNamespace(ns);
  }
}

// ---- a frozen owner under a writing host (test/integration/ha-freeze.test.ts, bench/freeze-loop.ts) ----

export interface FreezeRepOptions {
  disk: { id: string; iqn: string };
  /** pw-verify's region (blocks) and queue depth */
  blocks: number;
  queueDepth: number;
  /** pw-verify --cmd-timeout: under the failover time, so the session to the frozen node fails */
  cmdTimeoutS: number;
  /** pw-verify --give-up: over the failover time */
  giveUpS: number;
  /** ms the verifier writes through the new owner (acked writes over the frozen node's in-doubt ones) before the thaw */
  writeAfterFailoverMs: number;
  /** ms after the thaw, a second verifier writing, before the first one's region is read back again */
  settleMs: number;
  /** state files go here */
  dir: string;
  /** every verifier stderr line */
  onLog?: (line: string) => void;
}

export interface FreezeRep {
  /** the node frozen (it served the disk) and the one that took it over */
  frozen: string;
  to: string;
  /** ms from the freeze: every path served by another node (etcd) */
  servedMs: number;
  /** ms from the freeze to the verifier's reconnect through the new owner */
  reconnectMs: number;
  /** ms from the freeze to the first progress line after the reconnect with more writes acknowledged (1 s resolution) */
  writingMs: number;
  /** the new owner's storage fencing (its 'storage fenced' log line): ms and the clients it blocklisted; undefined: no such line */
  fence: { ms: number; clients: string[] } | undefined;
  /** the new owner logged 'storage fencing failed' (then retried) */
  fenceFailures: number;
  /** ms from the thaw until the thawed node had no tgtd and no path IP left */
  cleanMs: number;
  /** the thawed node's agent logged 'fenced' (or its guard 'guard fenced') after the thaw */
  selfFenced: boolean;
  /** performance.now() of the freeze and of the thawed node found clean (for the IP watcher's overlaps) */
  window: { from: number; to: number };
  /** the verifier that wrote across the freeze and the failover: stopped (and read back) just before the thaw */
  writer: VerifierResult;
  /** its region read back again after the thaw and the settle (--verify-only): what the thawed node wrote late shows here */
  afterThaw: VerifierResult;
  /** a second verifier (its own region) writing through the new owner across the thaw and the settle */
  during: VerifierResult;
  /** sums over the three */
  acked: number;
  inDoubt: number;
  lost: number;
  stale: number;
}

/** JSON log lines of a node's agent log from byte offset `from` on. */
function logLines(n: SimNode, from: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of n.logText().slice(from).split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {}
  }
  return out;
}

/**
 * One repetition. pw-verify writes (from the client namespace, through every path of the shared
 * disk, a small region so each block is rewritten often); the node serving the disk is frozen (every
 * process of it at once) with the verifier's queue full; the disk is served on another node and the
 * verifier goes on there for `writeAfterFailoverMs`, overwriting the blocks whose writes the frozen
 * tgtd still holds (in doubt). The verifier is then stopped and reads back (state file kept); a
 * second verifier starts on another region; the frozen node is thawed: whatever its tgtd held is
 * executed now, unless the storage refuses it, and it fences itself. After `settleMs` the second
 * verifier stops, and the first one's region is read back again (--verify-only): a write of the
 * thawed tgtd that landed over a newer acknowledged one shows as stale. The first verifier stops
 * before the thaw because its own writes would overwrite such a late write again (a small region is
 * rewritten every few ms) and hide it. Nothing is asserted here: the caller judges.
 */
export async function freezeFailoverRep(c: SimCluster, o: FreezeRepOptions): Promise<FreezeRep> {
  const { id, iqn } = o.disk;
  const paths = await c.waitServed(id, 60_000);
  const owner = c.node(paths[0]?.node as string);
  if (paths.some((p) => p.node !== owner.name)) throw new Error(`disk ${id} is not on one node: ${JSON.stringify(paths)}`);
  await c.waitAnswering(paths, iqn, id, 60_000);
  const urls = paths.map((p) => c.lunUrl(p.ip, iqn));
  const offsets = new Map(c.nodes.map((n) => [n.name, n.logText().length]));
  const guardFrom = owner.guardLogText().length;
  const state = join(o.dir, `freeze-${Date.now()}.state`);
  const lines: { t: number; line: string }[] = [];
  const common = { urls, netns: c.client, initiator: INITIATOR, cmdTimeoutS: o.cmdTimeoutS, giveUpS: o.giveUpS };
  const writer = startVerifier({
    ...common,
    seconds: 0,
    blocks: o.blocks,
    queueDepth: o.queueDepth,
    state,
    onLog: (line) => {
      lines.push({ t: Date.now(), line });
      o.onLog?.(line);
    },
  });
  let during: ReturnType<typeof startVerifier> | undefined;
  try {
    await writer.waitFor(/acked [1-9]/, 60_000);
    await sleep(1500); // writing steadily, the queue full
    const perfFrom = performance.now();
    const { frozenAt } = await owner.freeze();
    const moved = await c.waitServed(id, 90_000, [owner.name]);
    const servedMs = Date.now() - frozenAt;
    const to = moved[0]?.node as string;
    const reconnect = await waitUntil(
      'the verifier reconnected after the freeze',
      () => lines.find((l) => l.t >= frozenAt && /reconnected through/.test(l.line)),
      Math.max(60_000, o.giveUpS * 1000),
      50,
    );
    const acked = (l: string) => Number(/ acked (\d+) /.exec(l)?.[1] ?? Number.NaN);
    const ackedBefore = Math.max(
      0,
      ...lines
        .filter((l) => l.t <= reconnect.t)
        .map((l) => acked(l.line))
        .filter(Number.isFinite),
    );
    const writing = await waitUntil(
      'the verifier writing through the new owner',
      () => lines.find((l) => l.t > reconnect.t && acked(l.line) > ackedBefore),
      30_000,
      50,
    );
    await sleep(Math.max(0, o.writeAfterFailoverMs - (Date.now() - writing.t)));
    const first = await writer.stop();
    // The host keeps writing (another region, so the first one's blocks stay as the thaw leaves them).
    during = startVerifier({ ...common, seconds: 0, blocks: o.blocks, lbaStart: o.blocks * 4, queueDepth: o.queueDepth, onLog: o.onLog });
    await during.waitFor(/acked [1-9]/, 60_000);
    const { thawedAt } = await owner.thaw();
    // The thawed node fences itself (its lease is gone): no tgtd, no path IP left on it.
    await waitUntil(`${owner.name} clean after the thaw`, async () => owner.tgtds().length === 0 && (await owner.pathIps()).length === 0, 30_000, 20);
    const cleanMs = Date.now() - thawedAt;
    const perfTo = performance.now();
    await sleep(Math.max(0, o.settleMs - cleanMs));
    const second = await during.stop();
    const again = await runVerifier({ ...common, state, verifyOnly: true, onLog: o.onLog });
    const newOwner = c.node(to);
    const entries = logLines(newOwner, offsets.get(to) ?? 0).filter((e) => e.disk === id);
    const fenced = entries.find((e) => typeof e.msg === 'string' && e.msg.startsWith('storage fenced'));
    const selfFenced =
      logLines(owner, offsets.get(owner.name) ?? 0).some((e) => e.msg === 'fenced') || owner.guardLogText().slice(guardFrom).includes('guard fenced');
    return {
      frozen: owner.name,
      to,
      servedMs,
      reconnectMs: reconnect.t - frozenAt,
      writingMs: writing.t - frozenAt,
      fence: fenced ? { ms: Number(fenced.ms), clients: (fenced.clients as string[]) ?? [] } : undefined,
      fenceFailures: entries.filter((e) => typeof e.msg === 'string' && e.msg.startsWith('storage fencing failed')).length,
      cleanMs,
      selfFenced,
      window: { from: perfFrom, to: perfTo },
      writer: first,
      afterThaw: again,
      during: second,
      acked: first.acked_writes + second.acked_writes,
      inDoubt: first.in_doubt_writes + second.in_doubt_writes,
      lost: Math.max(first.lost, again.lost) + second.lost,
      stale: Math.max(first.stale, again.stale) + second.stale,
    };
  } finally {
    if (owner.frozen) await owner.thaw().catch(() => undefined);
    await writer.stop().catch(() => undefined);
    await during?.stop().catch(() => undefined);
  }
}

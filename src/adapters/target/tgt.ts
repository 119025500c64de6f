/**
 * The iSCSI target driver on tgt (Debian `tgt`, `tgt-rbd`). tgt cannot bind a target to one portal,
 * so every path IP gets its own tgtd (`tgtd -f -C <n> --iscsi portal=IP:3260`) serving one target
 * (tid 1, the disk's IQN, LUN 1 backed by the image). Each tgtd's pid, control port and configured
 * spec are recorded in `<runDir>/<ip>.json`, so a restarted agent adopts the daemons it left running
 * instead of restarting them (no path flaps), and removes those it no longer wants.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, unlink, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isValidIqn } from '../../domain/validate.js';
import { isIp } from '../../domain/ip.js';
import { Mutex, sleep } from '../../util/async.js';
import { run } from '../exec.js';
import type { TargetBacking } from '../images/types.js';
import { parseShowTargets } from './tgt-show.js';

export interface TargetSpec {
  iqn: string;
  backing: TargetBacking;
  /** '' = all initiators. */
  acl: string;
  chapUser: string;
  chapPassword: string;
  /** Same on every path of a disk so multipath sees one device: the disk id. */
  serial: string;
  /** The image's size: a grown image is re-read by recreating the LUN. */
  sizeGb?: number;
}

export interface PortalState {
  ip: string;
  pid: number;
  controlPort: number;
  specHash: string;
  iqn: string;
}

export interface TgtDriverOptions {
  runDir: string;
  logDir: string;
  /** First tgtd control port (-C) this driver may use; pick a different base per instance. */
  controlPortBase: number;
  log: Logger;
  tgtd?: string;
  tgtadm?: string;
  /** tgtd's control sockets (Debian: /var/run/tgtd/socket.N). */
  socketDir?: string;
  iscsiPort?: number;
}

const TID = '1';

export class TgtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TgtError';
  }
}

function hashSpec(spec: TargetSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 32);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


export class TgtDriver {
  private readonly tgtd: string;
  private readonly tgtadm: string;
  private readonly socketDir: string;
  private readonly port: number;
  /** Serializes work per IP. */
  private locks = new Map<string, Promise<unknown>>();
  /** Serializes control-port picking and tgtd start across IPs. */
  private readonly startLock = new Mutex();

  constructor(private readonly o: TgtDriverOptions) {
    this.tgtd = o.tgtd ?? 'tgtd';
    this.tgtadm = o.tgtadm ?? 'tgtadm';
    this.socketDir = o.socketDir ?? '/var/run/tgtd';
    this.port = o.iscsiPort ?? 3260;
  }

  private withLock<T>(ip: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(ip) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.locks.set(ip, tail);
    void tail.then(() => {
      if (this.locks.get(ip) === tail) this.locks.delete(ip);
    });
    return next;
  }

  private stateFile(ip: string): string {
    return join(this.o.runDir, `${ip}.json`);
  }

  private async readState(ip: string): Promise<PortalState | undefined> {
    try {
      return JSON.parse(await readFile(this.stateFile(ip), 'utf8')) as PortalState;
    } catch {
      return undefined;
    }
  }

  private async writeState(s: PortalState): Promise<void> {
    const f = this.stateFile(s.ip);
    await writeFile(`${f}.tmp`, JSON.stringify(s));
    await rename(`${f}.tmp`, f);
  }

  /** Is pid our tgtd for this ip and control port (and not a recycled pid)? */
  private async isOurTgtd(pid: number, ip: string, controlPort: number): Promise<boolean> {
    if (!alive(pid)) return false;
    try {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      return (
        args[0]?.endsWith('tgtd') === true &&
        args.includes(String(controlPort)) &&
        args.includes(`portal=${ip}:${this.port}`)
      );
    } catch {
      return false;
    }
  }

  private adm(controlPort: number, args: string[]) {
    return run(this.tgtadm, ['-C', String(controlPort), ...args], { timeoutMs: 15_000 });
  }

  /** Every portal recorded in the run dir, and whether its tgtd is alive. */
  async portals(): Promise<(PortalState & { alive: boolean })[]> {
    await mkdir(this.o.runDir, { recursive: true });
    const out: (PortalState & { alive: boolean })[] = [];
    for (const f of await readdir(this.o.runDir)) {
      if (!f.endsWith('.json')) continue;
      const ip = f.slice(0, -5);
      const s = await this.readState(ip);
      if (!s) continue;
      out.push({ ...s, alive: await this.isOurTgtd(s.pid, s.ip, s.controlPort) });
    }
    return out;
  }

  private async pickControlPort(): Promise<number> {
    await mkdir(this.o.runDir, { recursive: true });
    const used = new Set<number>();
    for (const f of await readdir(this.o.runDir)) {
      if (!f.endsWith('.json')) continue;
      const s = await this.readState(f.slice(0, -5));
      if (s) used.add(s.controlPort);
    }
    // tgtd takes control ports 0..32767.
    for (let n = this.o.controlPortBase; n <= 32767; n++) {
      if (used.has(n)) continue;
      // A socket of another tgtd (another instance, or the system's) that is alive: skip it.
      if (existsSync(join(this.socketDir, `socket.${n}`))) {
        const busy = await this.adm(n, ['--op', 'show', '--mode', 'sys']).then(
          () => true,
          () => false,
        );
        if (busy) continue;
      }
      return n;
    }
    throw new TgtError('no free tgtd control port');
  }

  private startTgtd(ip: string): Promise<PortalState> {
    return this.startLock.run(() => this.startTgtdNow(ip));
  }

  private async startTgtdNow(ip: string): Promise<PortalState> {
    const controlPort = await this.pickControlPort();
    await mkdir(this.o.logDir, { recursive: true });
    const logFd = openSync(join(this.o.logDir, `tgtd-${ip}.log`), 'a');
    const child = spawn(this.tgtd, ['-f', '-C', String(controlPort), '--iscsi', `portal=${ip}:${this.port}`], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    const pid = child.pid;
    child.unref();
    if (pid === undefined) throw new TgtError(`tgtd for ${ip} did not start`);
    const state: PortalState = { ip, pid, controlPort, specHash: '', iqn: '' };
    await this.writeState(state);
    // Ready when its control socket answers.
    for (let i = 0; i < 200; i++) {
      if (!alive(pid)) throw new TgtError(`tgtd for ${ip} exited at start (see tgtd-${ip}.log)`);
      const ok = await this.adm(controlPort, ['--op', 'show', '--mode', 'sys']).then(
        () => true,
        () => false,
      );
      if (ok) {
        this.o.log.info({ ip, pid, controlPort }, 'tgtd started');
        return state;
      }
      await sleep(25);
    }
    await this.kill(state);
    throw new TgtError(`tgtd for ${ip} did not answer on control port ${controlPort}`);
  }

  /** Serves spec on ip; idempotent: an already matching target is left alone (its sessions too). */
  serve(ip: string, spec: TargetSpec): Promise<void> {
    if (!isIp(ip)) return Promise.reject(new TgtError(`invalid portal IP ${ip}`));
    if (!isValidIqn(spec.iqn)) return Promise.reject(new TgtError(`invalid target IQN ${spec.iqn}`));
    if (spec.acl !== '' && !isValidIqn(spec.acl)) return Promise.reject(new TgtError(`invalid initiator IQN ${spec.acl}`));
    return this.withLock(ip, async () => {
      const want = hashSpec(spec);
      let s = await this.readState(ip);
      if (s && !(await this.isOurTgtd(s.pid, ip, s.controlPort))) {
        this.o.log.warn({ ip, pid: s.pid }, 'tgtd gone, restarting it');
        await this.cleanSocket(s.controlPort);
        s = undefined;
      }
      if (!s) s = await this.startTgtd(ip);
      const shown = parseShowTargets((await this.adm(s.controlPort, ['--lld', 'iscsi', '--op', 'show', '--mode', 'target'])).stdout);
      const target = shown.find((t) => t.tid === 1);
      if (target && s.specHash === want && target.iqn === spec.iqn && target.luns.some((l) => l.lun === 1)) return;
      if (target) await this.adm(s.controlPort, ['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', TID, '--force']);
      await this.configure(s.controlPort, spec);
      await this.writeState({ ...s, specHash: want, iqn: spec.iqn });
      this.o.log.info({ ip, iqn: spec.iqn, acl: spec.acl || 'ALL', chap: spec.chapUser !== '' }, 'target configured');
    });
  }

  private async configure(cp: number, spec: TargetSpec): Promise<void> {
    const lld = ['--lld', 'iscsi'];
    await this.adm(cp, [...lld, '--op', 'new', '--mode', 'target', '--tid', TID, '-T', spec.iqn]);
    const lun = [...lld, '--op', 'new', '--mode', 'logicalunit', '--tid', TID, '--lun', '1', '-b', spec.backing.path, '--bstype', spec.backing.bstype];
    if (spec.backing.bsopts) lun.push('--bsopts', spec.backing.bsopts);
    await this.adm(cp, lun);
    // One identity on every path of the disk, distinct between disks: multipath relies on it.
    const serial = spec.serial.replace(/[^A-Za-z0-9]/g, '');
    await this.adm(cp, [
      ...lld, '--op', 'update', '--mode', 'logicalunit', '--tid', TID, '--lun', '1',
      '--params', `vendor_id=PORTWAY,product_id=DISK,scsi_id=portway-${serial},scsi_sn=PW${serial}`,
    ]);
    await this.adm(cp, [...lld, '--op', 'bind', '--mode', 'target', '--tid', TID, ...(spec.acl ? ['-Q', spec.acl] : ['-I', 'ALL'])]);
    if (spec.chapUser) {
      await this.adm(cp, [...lld, '--op', 'delete', '--mode', 'account', '--user', spec.chapUser]).catch(() => {});
      await this.adm(cp, [...lld, '--op', 'new', '--mode', 'account', '--user', spec.chapUser, '--password', spec.chapPassword]);
      await this.adm(cp, [...lld, '--op', 'bind', '--mode', 'account', '--tid', TID, '--user', spec.chapUser]);
    }
  }

  /** Stops serving ip: removes the target (dropping sessions) and stops its tgtd. */
  unserve(ip: string): Promise<void> {
    return this.withLock(ip, async () => {
      const s = await this.readState(ip);
      if (!s) return;
      await this.kill(s);
      await unlink(this.stateFile(ip)).catch(() => {});
      this.o.log.info({ ip }, 'portal removed');
    });
  }

  private async kill(s: PortalState): Promise<void> {
    if (await this.isOurTgtd(s.pid, s.ip, s.controlPort)) {
      // tgtd ignores SIGTERM: delete the target with --force, then the system.
      await this.adm(s.controlPort, ['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', TID, '--force']).catch(() => {});
      await this.adm(s.controlPort, ['--op', 'delete', '--mode', 'system']).catch(() => {});
      for (let i = 0; i < 120 && alive(s.pid); i++) await sleep(25);
      if (await this.isOurTgtd(s.pid, s.ip, s.controlPort)) {
        this.o.log.warn({ ip: s.ip, pid: s.pid }, 'tgtd did not stop, killing it');
        process.kill(s.pid, 'SIGKILL');
        for (let i = 0; i < 40 && alive(s.pid); i++) await sleep(25);
      }
    }
    await this.cleanSocket(s.controlPort);
  }

  private async cleanSocket(cp: number): Promise<void> {
    await rm(join(this.socketDir, `socket.${cp}`), { force: true });
    await rm(join(this.socketDir, `socket.${cp}.lock`), { force: true });
  }

  /** Stops every tgtd this driver started. */
  async stopAll(): Promise<void> {
    for (const p of await this.portals()) await this.unserve(p.ip);
  }
}


/**
 * A tgtd started by a test itself (not through the product's driver): one target, LUN 1 on a file,
 * the given portals; stopped by PID. For tests of the iSCSI tools and of tgt's own SCSI behaviour.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/adapters/exec.js';
import { alive } from './procs.js';

/** One tgtd of ours: control port N (socket /var/run/tgtd/socket.N checked free first), portals, one target (tid 1, LUN 1). */
export class TestTgtd {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly logFile: string,
  ) {}

  static async start(dir: string, name: string, iqn: string, portals: string[], backing: string): Promise<TestTgtd> {
    const logFile = join(dir, `${name}.log`);
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = 9000 + Math.floor(Math.random() * 1000);
      if (existsSync(`/var/run/tgtd/socket.${port}`) || existsSync(`/var/run/tgtd/socket.${port}.lock`)) continue;
      const log = openSync(logFile, 'a');
      const child = spawn('tgtd', ['-f', '-C', String(port), '--iscsi', `portal=${portals[0]}:3260`], { stdio: ['ignore', log, log] });
      closeSync(log);
      const t = new TestTgtd(port, child, logFile);
      if (!(await t.answering())) {
        await t.kill();
        continue; // another tgtd took the port in between: next one
      }
      try {
        for (const p of portals.slice(1)) await t.portal('new', p);
        await t.adm(['--lld', 'iscsi', '--op', 'new', '--mode', 'target', '--tid', '1', '-T', iqn]);
        await t.adm(['--lld', 'iscsi', '--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', '1', '-b', backing, '--bstype', 'rdwr']);
        await t.adm(['--lld', 'iscsi', '--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL']);
      } catch (e) {
        await t.stop();
        throw e;
      }
      return t;
    }
    throw new Error('no free tgtd control port in 9000..9999');
  }

  adm(args: string[]): Promise<{ stdout: string }> {
    return run('tgtadm', ['-C', String(this.port), ...args], { timeoutMs: 15_000 });
  }

  portal(op: 'new' | 'delete', ip: string): Promise<{ stdout: string }> {
    return this.adm(['--lld', 'iscsi', '--op', op, '--mode', 'portal', '--param', `portal=${ip}:3260`]);
  }

  async portals(): Promise<string> {
    return (await this.adm(['--lld', 'iscsi', '--op', 'show', '--mode', 'portal'])).stdout;
  }

  /** Drops every connection of initiator (tgtadm --mode conn --op delete). Returns how many. */
  async dropSessions(initiator: string): Promise<number> {
    const { stdout } = await this.adm(['--lld', 'iscsi', '--op', 'show', '--mode', 'conn', '--tid', '1']);
    let n = 0;
    for (const block of stdout.split(/(?=Session: )/)) {
      const sid = /^Session: (\d+)/.exec(block);
      if (!sid || !block.includes(`Initiator: ${initiator}`)) continue;
      for (const cid of block.matchAll(/Connection: (\d+)/g)) {
        await this.adm(['--lld', 'iscsi', '--op', 'delete', '--mode', 'conn', '--tid', '1', '--sid', sid[1] as string, '--cid', cid[1] as string]);
        n++;
      }
    }
    return n;
  }

  /** Waits until tgtd answers on its control socket; false if it exited first. */
  private async answering(): Promise<boolean> {
    const end = Date.now() + 15_000;
    while (Date.now() < end) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return false;
      if (
        await this.adm(['--op', 'show', '--mode', 'sys']).then(
          () => true,
          () => false,
        )
      )
        return true;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`tgtd -C ${this.port} did not answer within 15 s: ${this.logTail()}`);
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-1500);
    } catch {
      return '';
    }
  }

  /** tgtd ignores SIGTERM: target deleted (--force), then the system, then SIGKILL by pid if still there. */
  async stop(): Promise<void> {
    await this.adm(['--lld', 'iscsi', '--op', 'delete', '--mode', 'target', '--tid', '1', '--force']).catch(() => {});
    await this.adm(['--op', 'delete', '--mode', 'system']).catch(() => {});
    await this.kill();
  }

  private async kill(): Promise<void> {
    const pid = this.child.pid;
    for (let i = 0; i < 100 && this.child.exitCode === null && this.child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 20));
    if (pid !== undefined && this.child.exitCode === null && this.child.signalCode === null && alive(pid)) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && pid !== undefined && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    rmSync(`/var/run/tgtd/socket.${this.port}`, { force: true });
    rmSync(`/var/run/tgtd/socket.${this.port}.lock`, { force: true });
  }

  /** tgt's session id of initiator's session (for dropping it). */
  async sessionOf(initiator: string): Promise<string> {
    const { stdout } = await this.adm(['--lld', 'iscsi', '--op', 'show', '--mode', 'conn', '--tid', '1']);
    for (const block of stdout.split(/(?=Session: )/)) {
      const sid = /^Session: (\d+)/.exec(block);
      if (sid && block.includes(`Initiator: ${initiator}`)) return sid[1] as string;
    }
    throw new Error(`no session of ${initiator} in: ${stdout}`);
  }
}

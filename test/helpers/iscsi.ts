/** The real iSCSI initiators used by tests: libiscsi's tools and qemu-io (libiscsi block driver). */
import { ExecError, run } from '../../src/adapters/exec.js';

export const ISCSI_TOOLS = ['tgtd', 'tgtadm', 'iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'qemu-io'];

export function lunUrl(ip: string, iqn: string, chap?: { user: string; password: string }): string {
  const auth = chap ? `${encodeURIComponent(chap.user)}%${encodeURIComponent(chap.password)}@` : '';
  return `iscsi://${auth}${ip}/${iqn}/1`;
}

const INITIATOR = 'iqn.2016-05.io.portway.test:initiator';

/** Targets the portal at ip advertises (SendTargets discovery). */
export async function discover(ip: string, initiator = INITIATOR): Promise<string[]> {
  const { stdout } = await run('iscsi-ls', ['-i', initiator, `iscsi://${ip}`], { timeoutMs: 15_000 });
  return [...stdout.matchAll(/Target:(\S+) Portal:/g)].map((m) => m[1] as string);
}

/** Capacity in bytes read with READ CAPACITY(16). */
export async function capacity(url: string, initiator = INITIATOR): Promise<number> {
  const { stdout } = await run('iscsi-readcapacity16', ['-i', initiator, url], { timeoutMs: 15_000 });
  const m = /Total size:(\d+)/.exec(stdout);
  if (!m) throw new Error(`no capacity in: ${stdout}`);
  return Number(m[1]);
}

export async function inquiry(url: string, initiator = INITIATOR): Promise<string> {
  return (await run('iscsi-inq', ['-i', initiator, url], { timeoutMs: 15_000 })).stdout;
}

/** Writes byte `pattern` over [offset, offset+len) through url. */
export async function writePattern(url: string, pattern: number, offset: number, len: number): Promise<void> {
  const { stdout } = await run('qemu-io', ['-f', 'raw', '-c', `write -P ${pattern} ${offset} ${len}`, url], { timeoutMs: 60_000 });
  if (!stdout.includes(`wrote ${len}/${len}`)) throw new Error(`write failed: ${stdout}`);
}

/** True when [offset, offset+len) read through url holds only byte `pattern`. */
export async function verifyPattern(url: string, pattern: number, offset: number, len: number): Promise<boolean> {
  let stdout: string;
  try {
    ({ stdout } = await run('qemu-io', ['-f', 'raw', '-c', `read -P ${pattern} ${offset} ${len}`, url], { timeoutMs: 60_000 }));
  } catch (e) {
    if (e instanceof ExecError && `${e.stdout}${e.stderr}`.includes('Pattern verification failed')) return false;
    throw e;
  }
  if (stdout.includes('Pattern verification failed')) return false;
  if (!stdout.includes(`read ${len}/${len}`)) throw new Error(`read failed: ${stdout}`);
  return true;
}

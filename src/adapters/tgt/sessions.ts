/**
 * What a node's tgtds say about who uses them: the initiators logged in to each disk's target (tgtd's
 * own I_T nexus list, `tgtadm --lld iscsi --op show --mode target`) and the I/O each session did
 * (tgtd's per-LUN, per-session counters, `tgtadm --lld iscsi --op stat --mode target --tid N`).
 *
 * tgtd 1.0.85 tells, per session: its id (sid), the initiator's IQN, and per connection the initiator's
 * IP address. It does not tell when the session began, nor which of its portals a connection came in
 * on: the portal is read from the tgtd's own TCP sockets (/proc/<pid>/fd and /proc/<pid>/net/tcp), so a
 * session is shown on the right path. When one initiator address has sessions to several portals of the
 * same tgtd (one host, two paths of a disk on one node), tgtd does not tell which session is on which of
 * those portals: sessions (by id, the order they logged in) are matched with sockets by fd number (the
 * order tgtd accepted them, while no older fd was freed meanwhile). The counts per portal are exact; the
 * pairing in that case is the likely one, not a certainty.
 *
 * The parsers are pure; readTargetSessions asks one tgtd.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface TgtConnection {
  cid: number;
  /** The initiator's IP address, as tgtd shows it. */
  address: string;
}

export interface TgtSession {
  tid: number;
  /** tgtd's I_T nexus id (unique in this tgtd for its life). */
  sid: number;
  initiator: string;
  connections: TgtConnection[];
}

/** I_T nexus sections of `show --mode target`. Pure. */
export function parseSessions(text: string): TgtSession[] {
  const out: TgtSession[] = [];
  let tid = 0;
  let section = '';
  let cur: TgtSession | undefined;
  let cid: number | undefined;
  for (const raw of text.split('\n')) {
    const t = /^Target (\d+): \S+$/.exec(raw);
    if (t) {
      tid = Number(t[1]);
      section = '';
      cur = undefined;
      continue;
    }
    const line = raw.trim();
    if (/^(System|I_T nexus|LUN|Account|ACL) information:$/.test(line)) {
      section = line.split(' ')[0] as string;
      cur = undefined;
      continue;
    }
    if (section !== 'I_T') continue;
    const n = /^I_T nexus: (\d+)$/.exec(line);
    if (n) {
      cur = { tid, sid: Number(n[1]), initiator: '', connections: [] };
      out.push(cur);
      cid = undefined;
      continue;
    }
    if (!cur) continue;
    const i = /^Initiator: (\S+)/.exec(line);
    if (i) cur.initiator = i[1] as string;
    const c = /^Connection: (\d+)$/.exec(line);
    if (c) cid = Number(c[1]);
    const a = /^IP Address: (\S+)$/.exec(line);
    if (a && cid !== undefined) cur.connections.push({ cid, address: a[1] as string });
  }
  return out;
}

/** One row of `stat --mode target`: what one session did on one LUN (completed commands). */
export interface TgtLunStat {
  tid: number;
  lun: number;
  sid: number;
  readBytes: number;
  reads: number;
  writeBytes: number;
  writes: number;
  errors: number;
}

/**
 * `tgt lun sid rd_subm(bytes,cmds) rd_done(bytes,cmds) wr_subm(bytes,cmds) wr_done(bytes,cmds) errs`:
 * the done columns are kept (submitted but not yet done is still in flight). Pure.
 */
export function parseStats(text: string): TgtLunStat[] {
  const out: TgtLunStat[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 12 || !f.every((x) => /^\d+$/.test(x))) continue;
    const n = f.map(Number);
    out.push({
      tid: n[0] as number,
      lun: n[1] as number,
      sid: n[2] as number,
      readBytes: n[5] as number,
      reads: n[6] as number,
      writeBytes: n[9] as number,
      writes: n[10] as number,
      errors: n[11] as number,
    });
  }
  return out;
}

/** An IPv4 address of /proc/net/tcp ("0100007F" = 127.0.0.1, little-endian hex). */
function ipv4OfHex(h: string): string {
  const n = Number.parseInt(h, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

/**
 * Established TCP connections of process pid on local port `port` (its iSCSI portal port): local
 * (portal) IP and remote (initiator) IP, read from its own sockets. IPv4 only (portals are IPv4).
 */
export function tcpConnectionsOf(pid: number, port: number): { portal: string; address: string; fd: number }[] {
  /** socket inode -> its fd number (tgtd accepts into the lowest free fd: the order sessions came in). */
  const inodes = new Map<string, number>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.set(m[1] as string, Number(fd));
      } catch {}
    }
  } catch {
    return [];
  }
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/net/tcp`, 'utf8');
  } catch {
    return [];
  }
  const out: { portal: string; address: string; fd: number }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st ... inode (field 9)
    if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9] as string)) continue;
    const [lh, lp] = (f[1] as string).split(':');
    const [rh] = (f[2] as string).split(':');
    if (Number.parseInt(lp ?? '', 16) !== port) continue;
    out.push({ portal: ipv4OfHex(lh ?? ''), address: ipv4OfHex(rh ?? ''), fd: inodes.get(f[9] as string) ?? 0 });
  }
  return out.sort((a, b) => a.fd - b.fd);
}

/** A session as a path shows it: the portal (path IP) it came in on, when that can be told. */
export interface PortalSession extends TgtSession {
  /** The portal (path IP) of its first connection; '' when no socket of the tgtd matched it. */
  portal: string;
}

/**
 * Pairs sessions with the portals of their connections (see the module's note): per initiator address,
 * sessions by sid with that address's sockets in the order given (by fd). Pure.
 */
export function assignPortals(sessions: readonly TgtSession[], sockets: readonly { portal: string; address: string }[], onlyPortal?: string): PortalSession[] {
  const byAddr = new Map<string, string[]>();
  for (const s of sockets) {
    const l = byAddr.get(s.address) ?? [];
    l.push(s.portal);
    byAddr.set(s.address, l);
  }
  return [...sessions]
    .sort((a, b) => a.sid - b.sid)
    .map((s) => {
      const addr = s.connections[0]?.address ?? '';
      const list = byAddr.get(addr);
      const portal = onlyPortal ?? list?.shift() ?? '';
      // the session's other connections take their sockets too
      for (let i = 1; i < s.connections.length; i++) byAddr.get(s.connections[i]?.address ?? '')?.shift();
      return { ...s, portal };
    });
}

/** What readTargetSessions needs of the target driver (TgtDriver has it). */
export interface TargetTextSource {
  targetText(controlPort: number, op: 'show' | 'stat', tid?: number): Promise<string>;
}

/** One tgtd asked once: its sessions (with portals) and per-session counters summed over its LUNs. */
export interface TargetSample {
  tid: number;
  sessions: PortalSession[];
  /** Counters of every session of the target, summed (LUN 0, the controller, does no data I/O). */
  io: { readBytes: number; reads: number; writeBytes: number; writes: number; errors: number };
  /** sid -> its counters (the same sums, per session). */
  perSession: Map<number, { readBytes: number; reads: number; writeBytes: number; writes: number }>;
}

export function sumStats(rows: readonly TgtLunStat[], tid: number): Pick<TargetSample, 'io' | 'perSession'> {
  const io = { readBytes: 0, reads: 0, writeBytes: 0, writes: 0, errors: 0 };
  const perSession = new Map<number, { readBytes: number; reads: number; writeBytes: number; writes: number }>();
  for (const r of rows) {
    if (r.tid !== tid) continue;
    io.readBytes += r.readBytes;
    io.reads += r.reads;
    io.writeBytes += r.writeBytes;
    io.writes += r.writes;
    io.errors += r.errors;
    const p = perSession.get(r.sid) ?? { readBytes: 0, reads: 0, writeBytes: 0, writes: 0 };
    p.readBytes += r.readBytes;
    p.reads += r.reads;
    p.writeBytes += r.writeBytes;
    p.writes += r.writes;
    perSession.set(r.sid, p);
  }
  return { io, perSession };
}

/**
 * Asks one tgtd (a disk's unit) for its sessions and counters: one `stat` request each time, and a
 * `show` only when the set of sessions changed since `last` (or there is no last). The target id comes
 * from the first `show`.
 */
export async function readTargetSessions(
  src: TargetTextSource,
  unit: { pid: number; controlPort: number; portals: readonly string[] },
  iscsiPort: number,
  last?: TargetSample,
): Promise<TargetSample> {
  let tid = last?.tid;
  let sessions = last?.sessions;
  if (tid === undefined) {
    const show = await src.targetText(unit.controlPort, 'show');
    tid = Number(/^Target (\d+):/m.exec(show)?.[1] ?? 0);
    sessions = undefined;
    if (tid === 0) return { tid: 0, sessions: [], io: { readBytes: 0, reads: 0, writeBytes: 0, writes: 0, errors: 0 }, perSession: new Map() };
    const { io, perSession } = sumStats(parseStats(await src.targetText(unit.controlPort, 'stat', tid)), tid);
    return { tid, sessions: withPortals(parseSessions(show), unit, iscsiPort), io, perSession };
  }
  const { io, perSession } = sumStats(parseStats(await src.targetText(unit.controlPort, 'stat', tid)), tid);
  const sids = [...perSession.keys()].sort((a, b) => a - b).join(',');
  const had = (sessions ?? []).map((s) => s.sid).join(',');
  if (sessions === undefined || sids !== had) {
    sessions = withPortals(parseSessions(await src.targetText(unit.controlPort, 'show')), unit, iscsiPort);
  }
  return { tid, sessions, io, perSession };
}

function withPortals(sessions: TgtSession[], unit: { pid: number; portals: readonly string[] }, iscsiPort: number): PortalSession[] {
  // No session, nothing to pair: the sockets are not read (/proc/<pid>/net/tcp lists every TCP socket
  // of the namespace, every portal of every tgtd among them: read for each new tgtd, that was
  // quadratic in the disks of a node at a cold start).
  if (sessions.length === 0) return [];
  if (unit.portals.length === 1) return assignPortals(sessions, [], unit.portals[0]);
  return assignPortals(sessions, tcpConnectionsOf(unit.pid, iscsiPort));
}

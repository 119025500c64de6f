/**
 * A minimal iSCSI initiator for benches: TCP connect, login (no authentication, security stage then
 * operational stage), one INQUIRY for the unit serial number VPD page (0x80) of a LUN, and the
 * connection dropped. What `iscsi-inq -e 1 -c 128` tells, without a process per attempt: a bench
 * polling a hundred paths at once spent most of its CPU starting libiscsi programs.
 *
 * RFC 7143 PDUs, header and data digests off, one connection, one command. The connect is retried
 * when it has not completed within `connectRetryMs` (a SYN sent while the path's IP still pointed at a
 * dead node's MAC is only sent again by the kernel after 1 s).
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface InquiryOptions {
  initiator: string;
  port?: number;
  lun?: number;
  /** A connect not completed after this many ms is dropped and started again (default 100). */
  connectRetryMs?: number;
  /** The whole attempt (connects, login, INQUIRY), ms (default 3000). */
  timeoutMs?: number;
  /** Counted here: TCP connects dropped because they had not completed within connectRetryMs. */
  stats?: { connectRetries: number };
}

const BHS = 48;

class PduReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((pdu: { bhs: Buffer; data: Buffer }) => void) | undefined;
  private failed: Error | undefined;
  private fail: ((e: Error) => void) | undefined;

  constructor(sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.pump();
    });
    const end = (e?: Error) => {
      this.failed = e ?? new Error('connection closed by the target');
      this.fail?.(this.failed);
    };
    sock.on('error', end);
    sock.on('close', () => end());
  }

  private take(): { bhs: Buffer; data: Buffer } | undefined {
    if (this.buf.length < BHS) return undefined;
    const ahs = (this.buf[4] ?? 0) * 4;
    const dlen = this.buf.readUIntBE(5, 3);
    const total = BHS + ahs + dlen + ((4 - (dlen % 4)) % 4);
    if (this.buf.length < total) return undefined;
    const bhs = this.buf.subarray(0, BHS);
    const data = this.buf.subarray(BHS + ahs, BHS + ahs + dlen);
    this.buf = this.buf.subarray(total);
    return { bhs, data };
  }

  private pump(): void {
    if (!this.waiting) return;
    const pdu = this.take();
    if (!pdu) return;
    const w = this.waiting;
    this.waiting = undefined;
    this.fail = undefined;
    w(pdu);
  }

  next(): Promise<{ bhs: Buffer; data: Buffer }> {
    return new Promise((res, rej) => {
      if (this.failed) return rej(this.failed);
      this.waiting = res;
      this.fail = rej;
      this.pump();
    });
  }
}

function keys(kv: Record<string, string>): Buffer {
  return Buffer.from(
    Object.entries(kv)
      .map(([k, v]) => `${k}=${v}\0`)
      .join(''),
    'utf8',
  );
}

function pdu(bhs: Buffer, data: Buffer = Buffer.alloc(0)): Buffer {
  bhs.writeUIntBE(data.length, 5, 3);
  const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
  return Buffer.concat([bhs, data, pad]);
}

/** One TCP connect, dropped and started again each time it has not completed within retryMs. */
async function connectRetrying(ip: string, port: number, retryMs: number, deadline: number): Promise<{ sock: Socket; attempts: number }> {
  let attempts = 0;
  for (;;) {
    attempts++;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`connect to ${ip}:${port} timed out after ${attempts - 1} attempt(s)`);
    const sock = connect({ host: ip, port, noDelay: true });
    const r = await new Promise<'ok' | 'retry' | Error>((res) => {
      // At the timeout, the loop's I/O of this turn is looked at first (setImmediate runs after it): a
      // connect that completed while this process was busy is not taken for an unanswered SYN.
      const t = setTimeout(() => setImmediate(() => res('retry')), Math.min(retryMs, left));
      sock.once('connect', () => {
        clearTimeout(t);
        res('ok');
      });
      sock.once('error', (e) => {
        clearTimeout(t);
        res(e);
      });
    });
    if (r === 'ok') return { sock, attempts };
    sock.destroy();
    if (r instanceof Error) throw r;
  }
}

/**
 * The unit serial number (VPD page 0x80) of LUN `lun` of target `iqn` at ip, trimmed; rejects on any
 * failure (refused, login status, SCSI status, timeout).
 */
export async function inquirySerial(ip: string, iqn: string, o: InquiryOptions): Promise<string> {
  const port = o.port ?? 3260;
  const deadline = performance.now() + (o.timeoutMs ?? 3000);
  const { sock, attempts } = await connectRetrying(ip, port, o.connectRetryMs ?? 100, deadline);
  if (o.stats) o.stats.connectRetries += attempts - 1;
  const timer = setTimeout(() => sock.destroy(new Error(`INQUIRY at ${ip} timed out`)), Math.max(1, deadline - performance.now()));
  try {
    const rd = new PduReader(sock);
    const isid = Buffer.concat([Buffer.from([0x80]), randomBytes(5)]);
    const itt = 1;
    const cmdSN = 1;
    let statSN = 0;
    // Login: stage 0 (security, AuthMethod=None) -> stage 1 (operational) -> full feature.
    let csg = 0;
    let first = true;
    for (let round = 0; ; round++) {
      if (round > 6) throw new Error('login did not finish');
      const bhs = Buffer.alloc(BHS);
      bhs[0] = 0x40 | 0x03; // immediate, Login Request
      bhs[1] = 0x80 | (csg << 2) | (csg === 0 ? 1 : 3); // T, CSG, NSG
      isid.copy(bhs, 8);
      bhs.writeUInt32BE(itt, 16);
      bhs.writeUInt32BE(cmdSN, 24);
      bhs.writeUInt32BE(statSN, 28);
      const data =
        csg === 0
          ? keys(first ? { InitiatorName: o.initiator, TargetName: iqn, SessionType: 'Normal', AuthMethod: 'None' } : {})
          : keys({ HeaderDigest: 'None', DataDigest: 'None', MaxRecvDataSegmentLength: '65536', ErrorRecoveryLevel: '0' });
      first = false;
      sock.write(pdu(bhs, data));
      const r = await rd.next();
      const op = (r.bhs[0] ?? 0) & 0x3f;
      if (op !== 0x23) throw new Error(`login: unexpected PDU opcode 0x${op.toString(16)}`);
      const cls = r.bhs[36] ?? 0;
      const detail = r.bhs[37] ?? 0;
      if (cls !== 0) throw new Error(`login refused: status ${cls}/${detail}`);
      statSN = r.bhs.readUInt32BE(24) + 1;
      const flags = r.bhs[1] ?? 0;
      const transit = (flags & 0x80) !== 0;
      const nsg = flags & 0x03;
      if (transit && nsg === 3) break;
      if (transit) csg = nsg;
    }
    // INQUIRY, EVPD page 0x80 (unit serial number).
    const lun = o.lun ?? 1;
    const alloc = 255;
    const cmd = Buffer.alloc(BHS);
    cmd[0] = 0x01;
    cmd[1] = 0x80 | 0x40 | 0x01; // F, R, simple
    cmd[9] = lun & 0xff;
    cmd[8] = (lun >> 8) & 0x3f;
    cmd.writeUInt32BE(2, 16);
    cmd.writeUInt32BE(alloc, 20);
    cmd.writeUInt32BE(cmdSN, 24);
    cmd.writeUInt32BE(statSN, 28);
    cmd.set([0x12, 0x01, 0x80, 0x00, alloc, 0x00], 32);
    sock.write(pdu(cmd));
    const chunks: Buffer[] = [];
    for (;;) {
      const r = await rd.next();
      const op = (r.bhs[0] ?? 0) & 0x3f;
      if (op === 0x25) {
        // Data-In
        chunks.push(Buffer.from(r.data));
        const flags = r.bhs[1] ?? 0;
        if (flags & 0x01) {
          const status = r.bhs[3] ?? 0;
          if (status !== 0) throw new Error(`INQUIRY status 0x${status.toString(16)}`);
          break;
        }
      } else if (op === 0x21) {
        // SCSI Response
        const status = r.bhs[3] ?? 0;
        if ((r.bhs[2] ?? 0) !== 0 || status !== 0) throw new Error(`INQUIRY response ${r.bhs[2]} status 0x${status.toString(16)}`);
        break;
      } else if (op === 0x3f) throw new Error('INQUIRY rejected');
      // NOP-In, asynchronous messages: ignored
    }
    const page = Buffer.concat(chunks);
    if (page.length < 4 || page[1] !== 0x80) throw new Error('INQUIRY: not the unit serial number page');
    const len = page.readUInt16BE(2);
    return page
      .subarray(4, 4 + len)
      .toString('latin1')
      .replace(/\0/g, '')
      .trim();
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}

/**
 * A client of tgtd's management socket: what `tgtadm` does, without a process per request.
 *
 * tgtd (1.0.85, Debian's build) listens on the unix stream socket `/var/run/tgtd/socket.<control port>`
 * (a path in the filesystem, not the abstract namespace), root only (it checks the peer's uid and gid).
 * One request per connection:
 *
 *   request  = header (120 bytes, in the host's byte order, as tgtd reads it) + parameter text
 *   header   = mode u32 | op u32 | lld char[64] | len u32 (header + text) | tid i32 | sid u64 | lun u64 |
 *              cid u32 | host_no u32 | device_type u32 | ac_dir u32 | pack u32 | force u32
 *   text     = `name=value` pairs joined by ',' and NUL-terminated; none at all (len = 120) when empty.
 *              A logical unit update carries `targetOps name=value,name=value,` instead.
 *   response = err u32 | len u32 (8 + text) | text (NUL-terminated; `show` output)
 *
 * tgtd reads the text as C strings split at ',' and '=' (strsep/strstr), so a value holding ',' '='
 * or NUL would be read as other parameters: every name and value is checked here, and a request that
 * would encode to something else is refused before anything is sent. tgtd drops a connection whose
 * text is larger than 8 KiB without an answer.
 *
 * Error codes are tgtd's `enum tgtadm_errno`; the messages are those tgtadm 1.0.85 prints for them
 * (checked against the installed tgtadm answering from a stand-in socket, one code after the other).
 */
import { connect } from 'node:net';
import { endianness } from 'node:os';
import { join } from 'node:path';

/** tgtd reads the request header as its own structs: in this host's byte order. */
const LE = endianness() === 'LE';

export type TgtMode = 'system' | 'target' | 'logicalunit' | 'portal' | 'lld' | 'session' | 'connection' | 'account';
export type TgtOp = 'new' | 'delete' | 'show' | 'bind' | 'unbind' | 'update' | 'stat' | 'start' | 'stop';

const MODES: Record<TgtMode, number> = {
  system: 0,
  target: 1,
  logicalunit: 2,
  portal: 3,
  lld: 4,
  session: 5,
  connection: 6,
  account: 7,
};
const OPS: Record<TgtOp, number> = { new: 0, delete: 1, show: 2, bind: 3, unbind: 4, update: 5, stat: 6, start: 7, stop: 8 };

/** tgtd's error codes, in enum order, with tgtadm's message for each. */
export const TGTADM_ERRORS: readonly string[] = [
  'success',
  'unknown error',
  'out of memory',
  "can't find the driver",
  "can't find the target",
  "can't find the logical unit",
  "can't find the session",
  "can't find the connection",
  "can't find the binding",
  'this target already exists',
  'this logical unit number already exists',
  'this binding already exists',
  'this access control rule already exists',
  'this access control rule does not exist',
  'this account already exists',
  "can't find the account",
  'too many accounts',
  'invalid request',
  'this target already has an outgoing account',
  'this target is still active',
  'this logical unit is still active',
  'this driver is busy',
  "this operation isn't supported",
  'unknown parameter',
  'this device has Prevent Removal set',
];

export const TGTADM_NO_TARGET = 4;
export const TGTADM_TARGET_EXIST = 9;
export const TGTADM_NO_USER = 15;

export function tgtadmMessage(code: number): string {
  return TGTADM_ERRORS[code] ?? '(unknown tgtadm_errno)';
}

/**
 * A failure of the target driver or of a tgtd request. For an error tgtd answered, `code` is its
 * tgtadm_errno and the message is what tgtadm prints (without its "tgtadm: " prefix).
 */
export class TgtError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'TgtError';
  }
}

export interface TgtRequest {
  mode: TgtMode;
  op: TgtOp;
  /** Low-level driver ('iscsi'); tgtd's first driver when left out. */
  lld?: string;
  /** Target id; -1 (none: `show` of every target) when left out. */
  tid?: number;
  /** Logical unit number; none (2^64 - 1) when left out. */
  lun?: number;
  /** Delete a target even with sessions. */
  force?: boolean;
  /** An account request about the target's outgoing account (mutual CHAP; tgtadm --outgoing). */
  outgoing?: boolean;
  /**
   * The parameter text: name/value pairs (encoded `n=v,n=v`), or a text in that form (or tgtadm's
   * `targetOps n=v,...,` form for a logical unit update), which is checked pair by pair the same way.
   */
  params?: Record<string, string> | string;
}

export interface TgtControlOptions {
  /** tgtd's control sockets (Debian: /var/run/tgtd). */
  socketDir?: string;
  /** For the whole request (connect, send, answer; for a system delete also tgtd's exit). */
  timeoutMs?: number;
}

export const DEFAULT_SOCKET_DIR = '/var/run/tgtd';
const DEFAULT_TIMEOUT_MS = 15_000;
const HEADER_LEN = 120;
const RSP_LEN = 8;
/** tgtd refuses (closes the connection without an answer) a text larger than this. */
const MAX_TEXT = 8 * 1024;
const MAX_RESPONSE = 64 * 1024 * 1024;
const NO_LUN = 0xffff_ffff_ffff_ffffn;
const LLD_LEN = 64;

/** Parameter names: what tgtd and tgtadm use (targetname, initiator-address, MaxRecvDataSegmentLength...). */
const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
/**
 * Values: printable ASCII without ',' (the pair separator) or '=' (the name/value separator); no
 * control characters (a newline would also forge lines of `show` output). Two exceptions, where tgtd
 * takes the value whole and so nothing in it can be read as another parameter:
 * - bsopts, a backing store's own `k=v;k=v` list (tgtd takes what follows `bsopts=` up to ','): '='.
 * - password, of an account: tgtd takes everything after `password=` to the end of the text. Portway's
 *   CHAP passwords are printable ASCII, ',' and '=' included (domain/validate.ts), so a password may
 *   hold them, but only as the last pair of the text.
 */
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]*$/;
const VALUE_WITH_EQ = /^[\x20-\x2b\x2d-\x7e]*$/;
const PRINTABLE = /^[\x20-\x7e]*$/;
const MAY_HOLD_EQ = new Set(['bsopts']);
const TAIL = new Set(['password']);

function checkPair(name: string, value: string, last: boolean): void {
  if (!NAME.test(name)) throw new TgtError(`refused tgtd parameter name ${JSON.stringify(name)}`);
  if (TAIL.has(name) && !last) throw new TgtError(`refused tgtd parameter text: ${name} must come last`);
  const ok = TAIL.has(name) ? PRINTABLE : MAY_HOLD_EQ.has(name) ? VALUE_WITH_EQ : VALUE;
  if (!ok.test(value))
    throw new TgtError(`refused value of tgtd parameter ${name}: it holds a character the request text cannot carry (',' '=' or a control character)`);
}

/** Encodes name/value pairs as tgtd reads them, refusing any that would read back as something else. */
export function encodeParams(params: Record<string, string>): string {
  const out: string[] = [];
  const entries = Object.entries(params);
  entries.forEach(([name, value], i) => {
    if (typeof value !== 'string') throw new TgtError(`refused value of tgtd parameter ${name}: not a string`);
    checkPair(name, value, i === entries.length - 1);
    out.push(`${name}=${value}`);
  });
  return out.join(',');
}

/** The text of a logical unit update (tgtadm --params): `targetOps n=v,n=v,`. */
export function targetOps(params: Record<string, string>): string {
  const text = encodeParams(params);
  if (text === '') throw new TgtError('a logical unit update needs parameters');
  for (const name of Object.keys(params)) if (TAIL.has(name)) throw new TgtError(`refused tgtd parameter ${name} in targetOps`);
  return `targetOps ${text},`;
}

/** Checks a ready-made text pair by pair, by the same rules as encodeParams. */
function checkText(text: string): string {
  let body = text;
  const ops = body.startsWith('targetOps ');
  if (ops) {
    if (!body.endsWith(',')) throw new TgtError('refused tgtd parameter text: targetOps must end with ","');
    body = body.slice('targetOps '.length, -1);
  }
  while (body !== '') {
    const eq = body.indexOf('=');
    const comma = body.indexOf(',');
    if (eq <= 0 || (comma >= 0 && comma < eq)) throw new TgtError(`refused tgtd parameter text: ${JSON.stringify(body.slice(0, 40))} is not name=value`);
    const name = body.slice(0, eq);
    if (TAIL.has(name)) {
      if (ops) throw new TgtError(`refused tgtd parameter ${name} in targetOps`);
      checkPair(name, body.slice(eq + 1), true);
      break;
    }
    const end = comma < 0 ? body.length : comma;
    checkPair(name, body.slice(eq + 1, end), comma < 0);
    if (comma >= 0 && comma === body.length - 1) throw new TgtError('refused tgtd parameter text: it ends with ","');
    body = comma < 0 ? '' : body.slice(comma + 1);
  }
  return text;
}

function checkInt(what: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new TgtError(`refused tgtd request: ${what} ${v} out of range`);
}

/** The request's bytes: header and NUL-terminated text (validated). */
export function encodeRequest(req: TgtRequest): Buffer {
  const mode = MODES[req.mode];
  const op = OPS[req.op];
  if (mode === undefined) throw new TgtError(`refused tgtd request: unknown mode ${String(req.mode)}`);
  if (op === undefined) throw new TgtError(`refused tgtd request: unknown op ${String(req.op)}`);
  const lld = req.lld ?? '';
  if (!/^[a-z]{0,16}$/.test(lld)) throw new TgtError(`refused tgtd request: lld ${JSON.stringify(lld)}`);
  const tid = req.tid ?? -1;
  checkInt('tid', tid, -1, 0x7fff_ffff);
  if (req.lun !== undefined) checkInt('lun', req.lun, 0, Number.MAX_SAFE_INTEGER);
  const p = req.params ?? '';
  const text = typeof p === 'string' ? checkText(p) : encodeParams(p);
  const body = text === '' ? Buffer.alloc(0) : Buffer.from(`${text}\0`, 'latin1');
  if (body.length > MAX_TEXT) throw new TgtError(`refused tgtd request: parameter text of ${body.length} bytes (tgtd takes ${MAX_TEXT})`);
  const h = Buffer.alloc(HEADER_LEN);
  const v = new DataView(h.buffer, h.byteOffset, h.length);
  v.setUint32(0, mode, LE);
  v.setUint32(4, op, LE);
  h.write(lld, 8, LLD_LEN, 'latin1');
  v.setUint32(72, HEADER_LEN + body.length, LE);
  v.setInt32(76, tid, LE);
  v.setBigUint64(80, 0n, LE); // sid
  v.setBigUint64(88, req.lun === undefined ? NO_LUN : BigInt(req.lun), LE);
  v.setUint32(96, 0, LE); // cid
  v.setUint32(100, 0, LE); // host_no
  v.setUint32(104, 0, LE); // device_type: disk
  v.setUint32(108, req.outgoing ? 1 : 0, LE); // ac_dir: incoming (0) or outgoing (1) account
  v.setUint32(112, 0, LE); // pack
  v.setUint32(116, req.force ? 1 : 0, LE);
  return Buffer.concat([h, body]);
}

export function socketPath(controlPort: number, socketDir = DEFAULT_SOCKET_DIR): string {
  return join(socketDir, `socket.${controlPort}`);
}

function describe(req: TgtRequest): string {
  return `${req.op} ${req.mode}${req.tid !== undefined ? ` tid ${req.tid}` : ''}${req.lun !== undefined ? ` lun ${req.lun}` : ''}`;
}

/** One exchange on a fresh connection; the socket is destroyed on every outcome. */
function exchange(path: string, bytes: Buffer, deadline: number, what: string): Promise<{ err: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path });
    const chunks: Buffer[] = [];
    let got = 0;
    let settled = false;
    const finish = (e: Error | undefined, v?: { err: number; text: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve(v as { err: number; text: string });
    };
    const timer = setTimeout(() => finish(new TgtError(`tgtd on ${path} did not answer ${what} in time`)), Math.max(0, deadline - Date.now()));
    let connected = false;
    sock.once('connect', () => {
      connected = true;
      sock.write(bytes);
    });
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got < RSP_LEN) return;
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(all);
      const err = LE ? all.readUInt32LE(0) : all.readUInt32BE(0);
      const len = LE ? all.readUInt32LE(4) : all.readUInt32BE(4);
      if (len < RSP_LEN || len > MAX_RESPONSE) return finish(new TgtError(`tgtd on ${path} sent a malformed answer to ${what}`));
      if (got < len) return;
      const raw = all.subarray(RSP_LEN, len);
      const nul = raw.indexOf(0);
      // tgtadm prints the text up to its NUL terminator.
      finish(undefined, { err, text: (nul < 0 ? raw : raw.subarray(0, nul)).toString('utf8') });
    });
    sock.once('end', () => finish(new TgtError(`tgtd closed the socket (${what})`)));
    sock.once('close', () => finish(new TgtError(`tgtd closed the socket (${what})`)));
    sock.once('error', (e: NodeJS.ErrnoException) =>
      finish(
        new TgtError(connected ? `lost tgtd on ${path} (${what}), ${e.code ?? e.message}` : `can't connect to tgt daemon on ${path}, ${e.code ?? e.message}`),
      ),
    );
  });
}

/** Resolves once nothing accepts connections on path any more (or the deadline passes). */
async function waitClosed(path: string, deadline: number): Promise<boolean> {
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect({ path });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (!open) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Sends one request to the tgtd on controlPort. Resolves with its text (`show` output; '' for
 * others); throws TgtError: a refused request (nothing sent), tgtd's error (code + tgtadm's message),
 * no connection, or no answer within the timeout. Like tgtadm, a system delete returns once tgtd no
 * longer accepts connections.
 */
export async function request(controlPort: number, req: TgtRequest, opts: TgtControlOptions = {}): Promise<{ text: string }> {
  checkInt('control port', controlPort, 0, 32767);
  const bytes = encodeRequest(req);
  const path = socketPath(controlPort, opts.socketDir);
  const what = describe(req);
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const { err, text } = await exchange(path, bytes, deadline, what);
  if (err !== 0) throw new TgtError(tgtadmMessage(err), err);
  if (req.mode === 'system' && req.op === 'delete' && !(await waitClosed(path, deadline)))
    throw new TgtError(`tgtd on ${path} still answers after a system delete`);
  return { text };
}

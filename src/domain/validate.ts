/** Validation of user input (names, sizes, IQNs, CHAP, manual IPs). Pure. */
import type { ResolvedSubnet } from './config.js';
import type { SubnetChoice } from './disk.js';
import { type Failure, fail } from './outcomes.js';
import { formatIp, isHostOf, parseIp } from './ip.js';

export const MAX_PATHS = 8;
export const MAX_MANUAL_PATHS = 2;
/** 1 PiB in GiB: far above any real disk, low enough to stay an exact number of bytes. */
export const MAX_SIZE_GB = 1024 * 1024;

const NAME = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} ._-]{0,63}$/u;

/** The input rules in words: the server's messages and the web form's hints say the same. */
export const RULES = {
  name: '1 to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit.',
  sizeGb: `A whole number of GiB, 1 to ${MAX_SIZE_GB}.`,
  chapUser: '1 to 64 letters, digits or . _ : @ -',
  chapPassword: '12 to 16 printable characters without spaces or quotes.',
  iqn: 'iqn.YYYY-MM.reversed.domain[:name] (lower case), or eui. and 16 hex digits.',
} as const;

export function checkName(name: unknown): Failure | undefined {
  if (typeof name !== 'string' || name.trim() === '') return fail('data_missing', 'Disk name is required.', 'name');
  if (!NAME.test(name) || name !== name.trim()) return fail('invalid_name', `Disk name must be ${RULES.name}`, 'name');
  return undefined;
}

/** Size in GiB: a whole number > 0 (numbers or digit strings as a form sends them). */
export function parseSizeGb(size: unknown): number | Failure {
  if (size === undefined || size === null || size === '') return fail('data_missing', 'Disk size is required.', 'sizeGb');
  const n = typeof size === 'number' ? size : typeof size === 'string' && /^\d{1,8}$/.test(size) ? Number(size) : Number.NaN;
  if (!Number.isInteger(n) || n <= 0) return fail('invalid_size', 'Disk size must be a whole number of GiB greater than 0.', 'sizeGb');
  if (n > MAX_SIZE_GB) return fail('invalid_size', `Disk size must be at most ${MAX_SIZE_GB} GiB.`, 'sizeGb');
  return n;
}

export function parsePathCount(n: unknown): number | Failure {
  const v = typeof n === 'string' && /^\d$/.test(n) ? Number(n) : n;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_PATHS)
    return fail('invalid_path_count', `Active paths must be a whole number from 1 to ${MAX_PATHS}.`, 'activePaths');
  return v;
}

export function parseSubnetChoice(s: unknown): SubnetChoice | Failure {
  const v = typeof s === 'string' && /^\d$/.test(s) ? Number(s) : s;
  if (v === 1 || v === 2 || v === 3) return v;
  return fail('invalid_subnet', 'iSCSI subnet must be 1, 2 or 3 (both).', 'subnet');
}

/** iqn.YYYY-MM.reversed.domain[:anything] or eui.16HEX, as RFC 3720 names them (lower case, no spaces). */
const IQN = /^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[a-z0-9.:_-]{1,200})?$/;
const EUI = /^eui\.[0-9A-F]{16}$/;

export function isValidIqn(iqn: string): boolean {
  return typeof iqn === 'string' && iqn.length <= 223 && (IQN.test(iqn) || EUI.test(iqn));
}

const CHAP_USER = /^[A-Za-z0-9._:@-]{1,64}$/;
/** Printable ASCII without spaces or quotes; 12..16 chars as Windows and VMware initiators require. */
const CHAP_PASSWORD = /^[!#-&(-~]{12,16}$/;

export function checkChap(user: unknown, password: unknown): Failure | undefined {
  if (typeof user !== 'string' || user === '') return fail('chap_missing', 'CHAP needs a user name.', 'chap.user');
  if (typeof password !== 'string' || password === '') return fail('chap_missing', 'CHAP needs a password.', 'chap.password');
  if (!CHAP_USER.test(user)) return fail('invalid_chap', `CHAP user name must be ${RULES.chapUser}`, 'chap.user');
  if (!CHAP_PASSWORD.test(password)) return fail('invalid_chap', `CHAP password must be ${RULES.chapPassword}`, 'chap.password');
  return undefined;
}

/** Subnets a disk's paths may use, by choice. */
export function subnetsOf(choice: SubnetChoice, s1: ResolvedSubnet, s2: ResolvedSubnet): ResolvedSubnet[] {
  return choice === 1 ? [s1] : choice === 2 ? [s2] : [s1, s2];
}

/**
 * The subnets path i (0-based) of a disk may use: with both subnets and 2 paths, path 1 in subnet 1 and
 * path 2 in subnet 2; with both and 1 path, either; else the chosen one.
 */
export function pathSubnets(i: number, activePaths: number, choice: SubnetChoice, s1: ResolvedSubnet, s2: ResolvedSubnet): ResolvedSubnet[] {
  if (choice === 1) return [s1];
  if (choice === 2) return [s2];
  return activePaths === 2 ? [i === 0 ? s1 : s2] : [s1, s2];
}

/** One manual IP (path i, 0-based) on its own: given, valid, a host address of the path's subnet. */
export function checkManualIp(
  raw: unknown,
  i: number,
  activePaths: number,
  choice: SubnetChoice,
  s1: ResolvedSubnet,
  s2: ResolvedSubnet,
): { ip: number; subnet: ResolvedSubnet } | Failure {
  const field = `path${i + 1}` as 'path1' | 'path2';
  if (typeof raw !== 'string' || raw === '') return fail('data_missing', `Path ${i + 1} IP is required.`, field);
  const ip = parseIp(raw);
  if (ip === undefined) return fail('invalid_ip', `Path ${i + 1} IP "${raw.slice(0, 40)}" is not a valid IPv4 address.`, field);
  const candidates = pathSubnets(i, activePaths, choice, s1, s2);
  const hit = candidates.find((s) => isHostOf(ip, s.subnet));
  if (!hit) {
    const names = candidates.map((s) => `${formatIp(s.subnet.network)}/${s.subnet.prefix}`).join(' or ');
    return fail('wrong_subnet', `Path ${i + 1} IP ${raw} is not a host address of ${names}.`, field);
  }
  return { ip, subnet: hit };
}

/**
 * Manual IPs: at most 2, as many as activePaths, valid syntax, distinct, each a host address of the chosen
 * subnet (with "both" and 2 paths: path 1 in subnet 1, path 2 in subnet 2), none used by any disk.
 */
export function checkManualIps(
  ips: readonly unknown[],
  activePaths: number,
  choice: SubnetChoice,
  s1: ResolvedSubnet,
  s2: ResolvedSubnet,
  used: ReadonlySet<number>,
  /** Who uses each used IP ("disk 00003 db1"), named in the message when one is taken. */
  usedBy?: ReadonlyMap<number, string>,
): { ip: number; subnet: ResolvedSubnet }[] | Failure {
  if (activePaths > MAX_MANUAL_PATHS) return fail('wrong_data', `Manual IPs allow at most ${MAX_MANUAL_PATHS} paths; use automatic IPs.`, 'activePaths');
  if (ips.length !== activePaths)
    return fail(
      'wrong_data',
      `Give one IP for each of the ${activePaths} active path(s).`,
      ips.length < activePaths ? (`path${ips.length + 1}` as 'path1' | 'path2') : 'activePaths',
    );
  const out: { ip: number; subnet: ResolvedSubnet }[] = [];
  for (const [i, raw] of ips.entries()) {
    const one = checkManualIp(raw, i, activePaths, choice, s1, s2);
    if ('ok' in one) return one;
    const field = `path${i + 1}` as 'path1' | 'path2';
    if (out.some((o) => o.ip === one.ip))
      return fail('ip_used_already', `Path ${i + 1} IP ${String(raw)} is already used by another path of this disk.`, field);
    if (used.has(one.ip)) {
      const owner = usedBy?.get(one.ip);
      return fail(
        'ip_used_already',
        `Path ${i + 1} IP ${String(raw)} is already used by another path${owner ? `: ${owner}` : ''}.`,
        field,
        owner ? { usedBy: owner } : undefined,
      );
    }
    out.push(one);
  }
  return out;
}

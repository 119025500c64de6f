/** IPv4 addresses and subnets as 32-bit unsigned numbers. Pure. */

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parses dotted-quad IPv4 (no leading zeros, no spaces); undefined when invalid. */
export function parseIp(text: string): number | undefined {
  if (typeof text !== 'string' || text.length > 15) return undefined;
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function isIp(text: string): boolean {
  return parseIp(text) !== undefined;
}

export function maskOfPrefix(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function maskText(prefix: number): string {
  return formatIp(maskOfPrefix(prefix));
}

/** Prefix length of a dotted mask, undefined unless the mask is contiguous. */
export function prefixOfMask(mask: string): number | undefined {
  const n = parseIp(mask);
  if (n === undefined) return undefined;
  for (let p = 0; p <= 32; p++) if (maskOfPrefix(p) === n) return p;
  return undefined;
}

export interface Subnet {
  /** Network address as a number (host bits zero). */
  network: number;
  prefix: number;
}

/** Parses "a.b.c.d/nn"; the address must be the network address. */
export function parseCidr(text: string): Subnet | undefined {
  const m = /^([0-9.]+)\/([1-9]\d?)$/.exec(text);
  if (!m) return undefined;
  const ip = parseIp(m[1] ?? '');
  const prefix = Number(m[2]);
  if (ip === undefined || prefix < 1 || prefix > 32) return undefined;
  if ((ip & maskOfPrefix(prefix)) >>> 0 !== ip) return undefined;
  return { network: ip, prefix };
}

export function cidrText(s: Subnet): string {
  return `${formatIp(s.network)}/${s.prefix}`;
}

export function inSubnet(ip: number, s: Subnet): boolean {
  return (ip & maskOfPrefix(s.prefix)) >>> 0 === s.network;
}

export function broadcastOf(s: Subnet): number {
  return (s.network | (~maskOfPrefix(s.prefix) >>> 0)) >>> 0;
}

/** A host address: inside the subnet, and not its network or broadcast address (prefix < 31). */
export function isHostOf(ip: number, s: Subnet): boolean {
  if (!inSubnet(ip, s)) return false;
  if (s.prefix >= 31) return true;
  return ip !== s.network && ip !== broadcastOf(s);
}

export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOfPrefix(p);
  return (a.network & m) >>> 0 === (b.network & m) >>> 0;
}

/**
 * Password hashing (scrypt with per-hash salt and parameters) and the random secrets of sessions and
 * tokens. No I/O: nothing here reads or writes the store.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyLen: number;
}

/** 32 MiB and ~50-100 ms per hash; stored with every hash so it can be raised later. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1, keyLen: 64 };

export interface PasswordHash extends ScryptParams {
  alg: 'scrypt';
  salt: string;
  hash: string;
}

function scrypt(password: string, salt: Buffer, prm: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize('NFC'), salt, prm.keyLen, { N: prm.N, r: prm.r, p: prm.p, maxmem: 256 * prm.N * prm.r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, prm: ScryptParams = DEFAULT_SCRYPT): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, prm);
  return { alg: 'scrypt', ...prm, salt: salt.toString('base64'), hash: key.toString('base64') };
}

/** Parameters read from the store are bounded: a tampered record must not make a login hash forever. */
function sane(h: PasswordHash): boolean {
  const pow2 = (n: number) => Number.isInteger(n) && n > 1 && (n & (n - 1)) === 0;
  return (
    h.alg === 'scrypt' &&
    pow2(h.N) &&
    h.N >= 2 ** 10 &&
    h.N <= 2 ** 20 &&
    Number.isInteger(h.r) &&
    h.r >= 1 &&
    h.r <= 32 &&
    Number.isInteger(h.p) &&
    h.p >= 1 &&
    h.p <= 16 &&
    Number.isInteger(h.keyLen) &&
    h.keyLen >= 16 &&
    h.keyLen <= 128 &&
    typeof h.salt === 'string' &&
    typeof h.hash === 'string'
  );
}

export async function verifyPassword(password: string, h: PasswordHash): Promise<boolean> {
  if (!sane(h)) return false;
  const want = Buffer.from(h.hash, 'base64');
  const got = await scrypt(password, Buffer.from(h.salt, 'base64'), h);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** True when a hash was made with weaker parameters than `prm` (rehash at the next login). */
export const weakerThan = (h: PasswordHash, prm: ScryptParams): boolean => h.N < prm.N || h.r < prm.r || h.keyLen < prm.keyLen;

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
export const randomId = (bytes: number): string => randomBytes(bytes).toString('base64url');

/** Compares two secrets in constant time (whatever their lengths). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a));
  const y = Buffer.from(sha256(b));
  return timingSafeEqual(x, y);
}

/** A strong random password: 20 characters without look-alikes (~115 bits). */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(64);
  let out = '';
  for (const b of bytes) {
    if (b >= 256 - (256 % alphabet.length)) continue; // no modulo bias
    out += alphabet[b % alphabet.length];
    if (out.length === 20) break;
  }
  return out.length === 20 ? out : generatePassword();
}

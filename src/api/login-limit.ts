/**
 * Login protection: failed logins are counted per username and per client address with
 * @fastify/rate-limit's counters (fastify.createRateLimit, one fixed window each); once either count
 * reaches its limit, that username or address is refused (429 `too_many_login_failures`, Retry-After)
 * until the window it was counted in ends, and the lock-out is audited once. Successful logins are not
 * counted, so a busy office behind one address is not locked out by its own users.
 *
 * Counters live in this API process's memory (each management node counts the logins it receives).
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface LoginLimitOptions {
  /** Failed logins for one username (from any address) before it is locked out for the window. */
  maxFailuresPerUser: number;
  /** Failed logins from one client address (any username) before it is locked out for the window. */
  maxFailuresPerAddress: number;
  /** The counting window and the longest a lock-out lasts. */
  windowSeconds: number;
}

export const DEFAULT_LOGIN_LIMIT: LoginLimitOptions = { maxFailuresPerUser: 5, maxFailuresPerAddress: 20, windowSeconds: 300 };

export interface Lockout {
  /** What is locked out: the username or the client address. */
  by: 'user' | 'address';
  target: string;
  retryAfterSeconds: number;
}

export interface LoginGuard {
  /** A lock-out in force for this attempt, if any (checked before the password). */
  refusal(req: FastifyRequest, username: string | undefined): Lockout | undefined;
  /** Counts a failed login; returns the lock-outs it starts (to audit them once). */
  failed(req: FastifyRequest, username: string | undefined): Promise<Lockout[]>;
}

const MAX_LOCKS = 10_000;

/** Registers the rate-limit plugin (no global limit) and returns the login guard over its counters. */
export async function loginGuard(app: FastifyInstance, o: LoginLimitOptions, now: () => number = Date.now): Promise<LoginGuard> {
  await app.register(rateLimit, { global: false, cache: MAX_LOCKS });
  const windowMs = o.windowSeconds * 1000;
  const userOf = (req: FastifyRequest) => (req.body as { username?: unknown } | undefined)?.username;
  const perAddress = app.createRateLimit({ max: o.maxFailuresPerAddress, timeWindow: windowMs, keyGenerator: (req) => `address:${req.ip}` });
  const perUser = app.createRateLimit({ max: o.maxFailuresPerUser, timeWindow: windowMs, keyGenerator: (req) => `user:${String(userOf(req))}` });
  /** key -> when the lock-out ends (ms). */
  const locks = new Map<string, number>();

  const lockOf = (key: string): number | undefined => {
    const until = locks.get(key);
    if (until === undefined) return undefined;
    if (until <= now()) {
      locks.delete(key);
      return undefined;
    }
    return until;
  };
  const lock = (key: string, ttlMs: number) => {
    if (locks.size >= MAX_LOCKS) {
      const t = now();
      for (const [k, until] of locks) if (until <= t) locks.delete(k);
      if (locks.size >= MAX_LOCKS) locks.delete(locks.keys().next().value as string);
    }
    locks.set(key, now() + ttlMs);
  };
  const out = (by: Lockout['by'], target: string, until: number): Lockout => ({
    by,
    target,
    retryAfterSeconds: Math.max(1, Math.ceil((until - now()) / 1000)),
  });

  return {
    refusal(req, username) {
      const a = lockOf(`address:${req.ip}`);
      if (a !== undefined) return out('address', req.ip, a);
      const u = username === undefined ? undefined : lockOf(`user:${username}`);
      return u !== undefined && username !== undefined ? out('user', username, u) : undefined;
    },
    async failed(req, username) {
      const started: Lockout[] = [];
      const checks: Array<[Lockout['by'], string, typeof perAddress]> = [['address', req.ip, perAddress]];
      if (username !== undefined) checks.push(['user', username, perUser]);
      for (const [by, target, check] of checks) {
        const r = await check(req);
        if (r.isAllowed || r.remaining > 0) continue;
        const key = `${by}:${target}`;
        if (lockOf(key) !== undefined) continue;
        const ttl = r.ttl > 0 ? r.ttl : windowMs;
        lock(key, ttl);
        started.push(out(by, target, now() + ttl));
      }
      return started;
    },
  };
}

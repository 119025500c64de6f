/**
 * Login protection on the real product over real HTTP: failed logins are limited per client address
 * and per username (@fastify/rate-limit counters); a flood from one address is refused while another
 * user, from another address, still logs in; each lock-out is in the audit log once. Client addresses
 * are distinct loopback sources (127.0.0.x as the socket's local address). Test product: octet 86.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type LoggedIn, type TestProduct, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';

const skip = missingTools(['tgtd', 'tgtadm']);
const ADMIN_PW = 'Correct-Horse-42';
const BOB_PW = 'Bobs-Own-Secret-7';

/** POST /api/v1/auth/login from a given local (client) address. */
function loginFrom(url: string, from: string, username: string, password: string): Promise<{ status: number; json: any; headers: Record<string, unknown> }> {
  const u = new URL(url);
  const body = JSON.stringify({ username, password });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: '/api/v1/auth/login',
        method: 'POST',
        localAddress: from,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('login protection (failed logins per address and per user)', { skip }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;

  before(async () => {
    tp = await startTestProduct(86, {
      ...withAuth({ login: { maxFailuresPerUser: 4, maxFailuresPerAddress: 8, windowSeconds: 120 } }),
      agent: { enabled: false, leaseTtlSeconds: 6 },
    });
    admin = await login(tp.product, 'admin', ADMIN_PW);
    const made = await admin.api('POST', '/api/v1/users', { name: 'bob', role: 'viewer', password: BOB_PW });
    assert.equal(made.status, 201, JSON.stringify(made.json));
  });
  after(async () => {
    await tp?.cleanup();
  });

  it('a flood from one address is refused (429, Retry-After) while another user logs in from another address', async () => {
    const url = tp.product.url;
    const statuses: number[] = [];
    // Different usernames each time: only the per-address count can stop this flood.
    for (let i = 0; i < 12; i++) statuses.push((await loginFrom(url, '127.86.9.1', `guess${i}`, 'wrong-password-x')).status);
    assert.deepEqual(statuses.slice(0, 8), Array(8).fill(401), 'the first 8 failures are answered as wrong passwords');
    assert.deepEqual(statuses.slice(8), Array(4).fill(429), 'after 8 failures the address is refused');
    const refused = await loginFrom(url, '127.86.9.1', 'bob', BOB_PW);
    assert.equal(refused.status, 429, 'even the right password is refused from the locked address');
    assert.equal(refused.json.code, 'too_many_login_failures');
    assert.equal(refused.json.details.lockedBy, 'address');
    const wait = Number(refused.headers['retry-after']);
    assert.ok(wait > 0 && wait <= 120, `Retry-After ${wait}`);
    assert.match(refused.json.message, /Too many failed logins for your address; try again in \d+ s\./);

    const bob = await loginFrom(url, '127.86.9.2', 'bob', BOB_PW);
    assert.equal(bob.status, 200, `bob logs in from another address: ${JSON.stringify(bob.json)}`);
    assert.equal(bob.json.user.name, 'bob');
  });

  it('failures for one username from many addresses lock that username only', async () => {
    const url = tp.product.url;
    for (let i = 0; i < 4; i++) assert.equal((await loginFrom(url, `127.86.10.${i + 1}`, 'bob', 'wrong-password-x')).status, 401);
    const locked = await loginFrom(url, '127.86.10.50', 'bob', BOB_PW);
    assert.equal(locked.status, 429, 'bob is locked out wherever he logs in from');
    assert.equal(locked.json.details.lockedBy, 'user');
    assert.match(locked.json.message, /for this username/);
    const other = await loginFrom(url, '127.86.10.50', 'admin', ADMIN_PW);
    assert.equal(other.status, 200, 'the same address logs in as another user');
  });

  it('each lock-out is audited once (who, what, for how long), refused attempts are not', async () => {
    const r = await admin.api('GET', '/api/v1/audit?limit=200');
    assert.equal(r.status, 200);
    const lockouts = (r.json.entries as any[]).filter((e) => e.action === 'auth.lockout');
    assert.deepEqual(lockouts.map((e) => e.target).sort(), ['address:127.86.9.1', 'user:bob']);
    for (const e of lockouts) {
      assert.equal(e.outcome, 'denied');
      assert.ok(e.details.seconds > 0 && e.details.seconds <= 120);
    }
    const failed = (r.json.entries as any[]).filter((e) => e.action === 'auth.login' && e.outcome === 'failed');
    assert.equal(failed.length, 12, 'the 8 + 4 wrong passwords, not the refused attempts');
  });
});

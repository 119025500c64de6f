/**
 * The web UI over HTTPS in real chromium: the product makes its self-signed certificate at the first
 * start, and the browser trusts exactly that certificate's key (--ignore-certificate-errors-spki-list
 * with the printed spki-sha256; no global "ignore certificate errors"). A browser that is not told to
 * trust it refuses the page. While a login flood from another address is refused, the browser's user
 * still logs in. Runs against its own product (octet 88).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { defaultWebDir } from '../../src/app/product.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { type TestProduct, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { uiLogin } from './ui.js';

const skip = missingTools(['tgtd', 'tgtadm', 'openssl', CHROMIUM]);
const ADMIN_PASSWORD = 'Correct-Horse-42';

/** A login POST from a given client address, trusting the product's certificate file. */
function loginFrom(url: string, ca: string, from: string, username: string, password: string): Promise<number> {
  const u = new URL(url);
  const body = JSON.stringify({ username, password });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: '/api/v1/auth/login',
        method: 'POST',
        ca,
        localAddress: from,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('web UI over HTTPS in chromium', { skip }, () => {
  let tp: TestProduct;
  let browser: Browser | undefined;

  before(async () => {
    assert.ok(existsSync(join(defaultWebDir(), 'index.html')), 'the web UI is built (npm run build:web)');
    tp = await startTestProduct(88, {
      ...withAuth({ adminPassword: ADMIN_PASSWORD, login: { maxFailuresPerUser: 5, maxFailuresPerAddress: 5, windowSeconds: 120 } }),
      tls: { enabled: true },
      agent: { enabled: false, leaseTtlSeconds: 6 },
    });
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('serves https with the self-signed certificate made at the first start', () => {
    assert.match(tp.product.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const tls = tp.product.tls;
    assert.ok(tls, 'the product reports its certificate');
    assert.equal(tls.certFile, join(tp.settings.stateDir, 'tls', 'cert.pem'));
    assert.match(tls.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(tls.spkiSha256, /^[A-Za-z0-9+/]{43}=$/);
  });

  it('a browser not told to trust the certificate refuses the page', async () => {
    const plain = await launchChromium();
    try {
      const page = await plain.newPage();
      await assert.rejects(page.goto(`${tp.product.url}/login`), /ERR_CERT_AUTHORITY_INVALID|ERR_CERT/);
    } finally {
      await plain.close();
    }
  });

  it('logs in over https trusting the generated certificate (Secure cookie) while a flood from another address is refused', async () => {
    const tls = tp.product.tls;
    assert.ok(tls);
    const ca = readFileSync(tls.certFile, 'utf8');
    const flood: number[] = [];
    for (let i = 0; i < 8; i++) flood.push(await loginFrom(tp.product.url, ca, '127.88.9.1', `guess${i}`, 'not-the-password'));
    assert.deepEqual(flood, [401, 401, 401, 401, 401, 429, 429, 429]);

    browser = await launchChromium([`--ignore-certificate-errors-spki-list=${tls.spkiSha256}`]);
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
    assert.equal(new URL(page.url()).protocol, 'https:');
    const cookie = (await ctx.cookies()).find((c) => c.name === 'portway_session');
    assert.ok(cookie, 'the session cookie is set');
    assert.equal(cookie.secure, true, 'the cookie is Secure over https');
    assert.equal(cookie.httpOnly, true);
    assert.equal(await loginFrom(tp.product.url, ca, '127.88.9.1', 'admin', ADMIN_PASSWORD), 429, 'the flooding address stays refused');
  });
});

/**
 * Fault: the API server (the product process) is restarted while 20 adds are in flight: once cleanly
 * (SIGTERM, which also releases the paths) and once as a crash (SIGKILL).
 * Guarantee: every add that got 201 exists afterwards (with the id and IPs it was given); every add
 * that got an error reply left nothing; an add that got no reply (connection cut) either exists whole
 * or not at all; no two disks share an IP or an id; the store is consistent.
 */
import assert from 'node:assert/strict';
import { type Socket, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { addBody, missingTools } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { type ChildProduct, childProduct, request } from './lib/child-product.js';
import { allStarted, checkChild, cleanupChild, measured, sleep } from './lib/common.js';
import { waitDead } from './lib/procs.js';

const skip = missingTools(ISCSI_TOOLS);
const OCTET = 64;
const PREFIX = `127.${OCTET}.`;

/** A raw TCP connection to the API, to hold a request half-sent. */
function open(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port) });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads one HTTP/1.1 response (the server closes the connection after it while closing). */
function readResponse(s: Socket, timeoutMs = 30_000): Promise<{ status: number; headers: Map<string, string>; json: any; raw: string }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete response within ${timeoutMs} ms: ${JSON.stringify(buf)}`));
    }, timeoutMs);
    const tryParse = (final: boolean) => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (final) {
          clearTimeout(timer);
          reject(new Error(`connection closed without a response: ${JSON.stringify(buf)}`));
        }
        return;
      }
      const [statusLine = '', ...lines] = buf.slice(0, end).split('\r\n');
      const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const body = buf.slice(end + 4);
      const len = Number(headers.get('content-length') ?? Number.NaN);
      if (!final && !(Buffer.byteLength(body) >= len)) return;
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {}
      resolve({ status: Number(statusLine.split(' ')[1]), headers, json, raw: buf });
    };
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      tryParse(false);
    });
    s.once('end', () => tryParse(true));
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Resolves once the server refuses new connections (it has begun to close). */
async function untilRefused(url: string, timeoutMs = 30_000): Promise<void> {
  const refused = () =>
    open(url).then(
      (s) => {
        s.destroy();
        return false;
      },
      () => true,
    );
  await waitFor(refused, { what: 'the server to refuse connections after SIGTERM', timeoutMs, intervalMs: 20 });
}

const postHead = (body: string) =>
  `POST /api/v1/disks HTTP/1.1\r\nhost: portway\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;

describe('fault: API server restarted during a burst of 20 concurrent adds', { skip, timeout: 300_000 }, () => {
  let cp: ChildProduct;
  before(async () => {
    cp = childProduct(OCTET);
    await cp.start();
  });
  after(async () => {
    await cleanupChild(cp, PREFIX);
  });

  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${sig} after the first 201: every reply tells the truth, nothing is half-made`, async () => {
      const tag = sig === 'SIGTERM' ? 't' : 'k';
      const before = new Set(((await request(cp.url, 'GET', '/api/v1/disks')).json.disks as { id: string }[]).map((d) => d.id));
      const url = cp.url;
      let first201: () => void = () => {};
      const gotOne = new Promise<void>((r) => (first201 = r));
      const replies = Array.from({ length: 20 }, (_, i) =>
        request(url, 'POST', '/api/v1/disks', addBody(`${tag}${i}`, { activePaths: 1 + (i % 2), subnet: 1 + (i % 3) }), 60_000).then((r) => {
          if (r.status === 201) first201();
          return r;
        }),
      );
      await Promise.race([gotOne, sleep(10_000)]);
      const t0 = Date.now();
      await cp.kill(sig);
      const stopMs = Date.now() - t0;
      const res = await Promise.all(replies);
      await cp.start();
      const disks = await allStarted(cp.url, 60_000);
      measured(`${sig} during a burst: stop took ${stopMs} ms; restart -> every disk started`, Date.now() - t0);

      const byName = new Map(disks.map((d: { id: string; name: string }) => [d.name, d]));
      const tally = { created: 0, refused: 0, cut: 0, cutButMade: 0 };
      const codes = new Map<string, number>();
      for (const [i, r] of res.entries()) {
        const name = `${tag}${i}`;
        const d = byName.get(name);
        if (r.status === 201) {
          tally.created++;
          assert.ok(d, `${name} got 201 (disk ${r.json.disk.id}) and must exist`);
          assert.equal(d.id, r.json.disk.id, `${name} keeps the id it was given`);
        } else if (r.status === 0) {
          tally.cut++;
          if (d) tally.cutButMade++;
        } else {
          tally.refused++;
          codes.set(`${r.status} ${r.json?.code}`, (codes.get(`${r.status} ${r.json?.code}`) ?? 0) + 1);
          assert.equal(typeof r.json?.code, 'string', `${name}: an error reply has a code: ${JSON.stringify(r.json)}`);
          assert.ok(r.status !== 500, `${name}: no internal error: ${JSON.stringify(r.json)}`);
          assert.equal(d, undefined, `${name} got ${r.status} ${r.json?.code} and must have left nothing`);
        }
      }
      process.stderr.write(`# ${sig}: ${JSON.stringify(tally)} error codes ${JSON.stringify([...codes])}\n`);

      // No duplicate ids or IPs among all disks; new disks are exactly the ones made by this burst.
      const ids = disks.map((d: { id: string }) => d.id);
      assert.equal(new Set(ids).size, ids.length, 'no duplicate ids');
      const ips: string[] = [];
      for (const d of disks) for (const p of (await request(cp.url, 'GET', `/api/v1/disks/${d.id}/paths`)).json.paths) ips.push(p.ip);
      assert.equal(new Set(ips).size, ips.length, `no duplicate IPs: ${ips.join(' ')}`);
      for (const d of disks) if (!before.has(d.id)) assert.ok(d.name.startsWith(tag), `new disk ${d.id} ${d.name} comes from this burst`);

      await checkChild(cp, PREFIX, {}, `after ${sig} during a burst`);

      // And the product still adds disks (the allocation lock of the dead process is not stuck).
      const t1 = Date.now();
      const again = await request(cp.url, 'POST', '/api/v1/disks', addBody(`${tag}-after`, { activePaths: 1 }));
      assert.equal(again.status, 201, JSON.stringify(again.json));
      measured(`${sig}: first add after the restart answered`, Date.now() - t1);
      await allStarted(cp.url, 30_000);
    });
  }

  it('SIGTERM: a request that arrives while the server closes gets 503 server_closing in the API error shape; one in flight finishes', async () => {
    // A: an add whose body is half sent: a request in flight, which keeps the server closing (not closed).
    // B: an add of which only the request line's start is sent: a busy connection, not closed as idle.
    const bodyA = JSON.stringify(addBody('closing-a', { activePaths: 1 }));
    const bodyB = JSON.stringify(addBody('closing-b', { activePaths: 1 }));
    const a = await open(cp.url);
    const b = await open(cp.url);
    const replyA = readResponse(a);
    const replyB = readResponse(b);
    a.write(postHead(bodyA) + bodyA.slice(0, 10));
    b.write('POST /api/v1/di');
    await sleep(1000);
    const pid = cp.pid;
    const t0 = Date.now();
    process.kill(pid, 'SIGTERM');
    await untilRefused(cp.url);
    measured('SIGTERM -> new connections refused (the server is closing)', Date.now() - t0);

    // B arrives now: refused with the API's shape, a stable code and Retry-After; nothing is made.
    b.write(postHead(bodyB).slice('POST /api/v1/di'.length) + bodyB);
    const rb = await replyB;
    assert.equal(rb.status, 503, rb.raw);
    assert.deepEqual(Object.keys(rb.json ?? {}).sort(), ['code', 'details', 'message'], `the API's error shape: ${rb.raw}`);
    assert.equal(rb.json.code, 'server_closing', rb.raw);
    assert.equal(typeof rb.json.message, 'string');
    assert.ok(Number(rb.headers.get('retry-after')) > 0, `Retry-After: ${rb.raw}`);
    assert.equal(rb.headers.get('connection'), 'close', rb.raw);

    // A, in flight when the stop began, finishes and is answered.
    a.write(bodyA.slice(10));
    const ra = await replyA;
    assert.equal(ra.status, 201, ra.raw);
    await waitDead(pid, 60_000);
    a.destroy();
    b.destroy();

    await cp.start();
    const disks = await allStarted(cp.url, 60_000);
    const names = disks.map((d: { name: string }) => d.name);
    assert.ok(names.includes('closing-a'), 'the add in flight exists');
    assert.equal(names.includes('closing-b'), false, 'the refused add left nothing');
    await checkChild(cp, PREFIX, {}, 'after requests refused while closing');
  });
});

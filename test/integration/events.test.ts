/**
 * The live disk list (GET /api/v1/events, server-sent events): an event per change, fed by the disk
 * list cache; and a stream open while the product stops is ended by the server (preClose), so the stop
 * does not wait for clients that never disconnect.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';

const skip = missingTools(ISCSI_TOOLS);

/** Opens the event stream; collects `disks` events; `ended` resolves when the server ends the stream. */
function openEvents(url: string) {
  const events: { disks: { id: string; name: string; status: string }[] }[] = [];
  let buf = '';
  let onEvent: (() => void) | undefined;
  let endedResolve: () => void = () => {};
  const ended = new Promise<void>((r) => {
    endedResolve = r;
  });
  const req = request(`${url}/api/v1/events`, (res) => {
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (block.includes('event: disks') && data) {
          events.push(JSON.parse(data.slice(6)));
          onEvent?.();
        }
      }
    });
    res.on('end', () => endedResolve());
    res.on('close', () => endedResolve());
  });
  req.on('error', () => endedResolve());
  req.end();
  const next = (pred: (e: (typeof events)[number]) => boolean, timeoutMs = 15_000) =>
    new Promise<(typeof events)[number]>((resolve, reject) => {
      const check = () => {
        const e = events.find(pred);
        if (e) {
          clearTimeout(t);
          onEvent = undefined;
          resolve(e);
        }
      };
      const t = setTimeout(() => reject(new Error(`no matching event in ${timeoutMs} ms (got ${events.length})`)), timeoutMs);
      onEvent = check;
      check();
    });
  return { events, next, ended, close: () => req.destroy() };
}

describe('live disk list (server-sent events)', { skip }, () => {
  let tp: TestProduct;
  before(async () => {
    tp = await startTestProduct(43);
  });
  after(async () => {
    await tp?.cleanup();
  });

  it('sends the list at once, then every change: an add, its paths served, a rename', async () => {
    const s = openEvents(tp.product.url);
    try {
      await s.next((e) => Array.isArray(e.disks) && e.disks.length === 0);
      const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('live1'));
      assert.equal(r.status, 201);
      const id = r.json.disk.id as string;
      await s.next((e) => e.disks.some((d) => d.id === id));
      await s.next((e) => e.disks.some((d) => d.id === id && d.status === 'started'));
      assert.equal((await api(tp.product, 'PATCH', `/api/v1/disks/${id}`, { name: 'live1-renamed' })).status, 200);
      await s.next((e) => e.disks.some((d) => d.id === id && d.name === 'live1-renamed'));
    } finally {
      s.close();
    }
  });

  it('a stream left open does not hold up a stop: the server ends it', async () => {
    const s = openEvents(tp.product.url);
    await s.next(() => true);
    const t0 = Date.now();
    const stopped = tp.product.stop({ release: true }).then(() => Date.now() - t0);
    const bound = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the stop did not finish within 30 s with an event stream open')), 30_000),
    );
    const ms = await Promise.race([stopped, bound]);
    await Promise.race([s.ended, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the stream was not ended by the server')), 5000))]);
    console.log(`# MEASURED stop with an event stream open: ${ms} ms`);
    // a fresh product for the suite's cleanup
    await tp.restart();
  });
});

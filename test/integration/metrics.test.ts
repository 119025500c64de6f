/**
 * GET /metrics on the real product (real tgtd): parsed as Prometheus text (test/helpers/prom-text.ts),
 * not grepped. Disks by status, node up, paths served, the API latency histogram, and the in-process
 * agent's reconcile durations, and the per-disk I/O counters from tgtd's own counters: a write of 4 MiB
 * through one disk shows on that disk only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ISCSI_TOOLS } from '../helpers/iscsi.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { type Exposition, parsePromText, sampleValue } from '../helpers/prom-text.js';
import { ScsiSession } from '../helpers/scsi-session.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(ISCSI_TOOLS);
const MiB = 1024 * 1024;

describe('Prometheus metrics', { skip }, () => {
  let tp: TestProduct;
  const sessions: ScsiSession[] = [];
  before(async () => {
    tp = await startTestProduct(59);
  });
  after(async () => {
    for (const x of sessions) await x.close().catch(() => {});
    await tp?.cleanup();
  });

  const scrape = async (): Promise<Exposition> => {
    const res = await fetch(`${tp.product.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parsePromText(await res.text());
  };

  it('exposes disks, nodes, paths, API latency and per-disk I/O from tgtd', async () => {
    const ids: string[] = [];
    for (const name of ['m1', 'm2']) {
      const r = await api(tp.product, 'POST', '/api/v1/disks', addBody(name, { activePaths: 1 }));
      assert.equal(r.status, 201, JSON.stringify(r.json));
      ids.push(r.json.disk.id);
    }
    const [busy, idle] = ids as [string, string];
    for (const id of ids)
      await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk?.status === 'started' ? true : undefined), {
        what: `disk ${id} started`,
        timeoutMs: 20_000,
      });

    let m = await scrape();
    assert.equal(m.types.get('portway_disks'), 'gauge');
    assert.equal(sampleValue(m, 'portway_disks', { status: 'started' }), 2);
    assert.equal(sampleValue(m, 'portway_disks', { status: 'stopped' }), 0);
    assert.equal(sampleValue(m, 'portway_node_up', { node: 'node1' }), 1);
    assert.equal(sampleValue(m, 'portway_node_paths_served', { node: 'node1' }), 2);
    assert.equal(m.types.get('portway_http_request_duration_seconds'), 'histogram');
    const posts = sampleValue(m, 'portway_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/disks', status_code: '201' });
    assert.equal(posts, 2);
    assert.equal(m.types.get('portway_failovers_total'), 'counter');
    // The in-process agent reconciled (two adds at least): its durations are in the histogram.
    assert.equal(m.types.get('portway_agent_reconcile_duration_seconds'), 'histogram');
    const reconciles = sampleValue(m, 'portway_agent_reconcile_duration_seconds_count', { node: 'node1', result: 'ok' }) ?? 0;
    assert.ok(reconciles >= 2, `reconciles counted: ${reconciles}`);
    const inf = sampleValue(m, 'portway_agent_reconcile_duration_seconds_bucket', { node: 'node1', result: 'ok', le: '+Inf' });
    assert.equal(inf, reconciles);
    assert.ok((sampleValue(m, 'portway_agent_reconcile_duration_seconds_sum', { node: 'node1', result: 'ok' }) ?? 0) > 0);

    const path = (await api(tp.product, 'GET', `/api/v1/disks/${busy}/paths`)).json.paths[0].ip as string;
    // tgtd counts per session, and a session's counters go with it: the writer holds its session (an
    // initiator that logs out between two samples is not counted; docs/OPERATIONS.md says so).
    const host = await ScsiSession.open(`iscsi://${path}/iqn.2016-05.io.portway.test:${busy}/1`, { initiator: 'iqn.1994-05.com.example:metrics' });
    sessions.push(host);
    await host.send('tur'); // takes the unit attention of a new session
    const w = await host.send('write 0 8192 0x5a'); // 8192 blocks of 512 bytes
    assert.equal(w.ok, true, JSON.stringify(w));
    m = await waitFor(
      async () => {
        const e = await scrape();
        return (sampleValue(e, 'portway_disk_written_bytes_total', { disk: busy, node: 'node1' }) ?? 0) >= 4 * MiB ? e : undefined;
      },
      { what: 'the write counted', timeoutMs: 10_000 },
    );
    const written = sampleValue(m, 'portway_disk_written_bytes_total', { disk: busy, node: 'node1' }) ?? 0;
    // One write command of exactly 4 MiB; nothing else writes to the disk.
    assert.equal(written, 4 * MiB);
    assert.ok((sampleValue(m, 'portway_disk_writes_total', { disk: busy, node: 'node1' }) ?? 0) >= 1);
    assert.equal(sampleValue(m, 'portway_disk_written_bytes_total', { disk: idle, node: 'node1' }) ?? 0, 0, 'the other disk shows no write');
  });

  it('answers the health summary and the events; refuses a webhook that is not an http(s) URL', async () => {
    const r = await api(tp.product, 'GET', '/api/v1/alerts');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.health, { status: 'ok', problems: [], nodesUp: 1, nodesKnown: 1 });
    assert.deepEqual(r.json.events, []);
    const bad = await api(tp.product, 'PUT', '/api/v1/alerts/webhook', { url: 'file:///etc/passwd' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'invalid_request');
    assert.equal(bad.json.details.field, 'url');
    const good = await api(tp.product, 'PUT', '/api/v1/alerts/webhook', { url: 'http://127.0.0.1:9/hook' });
    assert.deepEqual([good.status, good.json], [200, { url: 'http://127.0.0.1:9/hook' }]);
    assert.deepEqual((await api(tp.product, 'GET', '/api/v1/alerts/webhook')).json, { url: 'http://127.0.0.1:9/hook' });
    assert.deepEqual((await api(tp.product, 'PUT', '/api/v1/alerts/webhook', { url: null })).json, { url: null });
  });
});

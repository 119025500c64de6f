/**
 * Live I/O rates from tgtd's own counters: iscsi-perf reads one disk for ~9 s; within 10 s of its start
 * that disk's read rate rises in the API (and only that disk's), its rate agrees with the initiator's own
 * average within 20%, and /metrics (parsed) counts the reads on that disk only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(['tgtd', 'tgtadm', 'iscsi-perf']);
type Point = [number, number, number, number, number];

describe('live I/O rates', { skip }, () => {
  let tp: TestProduct;
  before(async () => {
    tp = await startTestProduct(60);
  });
  after(async () => {
    await tp?.cleanup();
  });

  it("one disk's read rate rises within 10 s, only that disk's, and agrees with the initiator within 20%", async () => {
    const ids: string[] = [];
    for (const name of ['io1', 'io2']) {
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
    const ip = (await api(tp.product, 'GET', `/api/v1/disks/${busy}/paths`)).json.paths[0].ip as string;

    const t0 = Date.now();
    const perf = spawn('iscsi-perf', ['-i', 'iqn.1994-05.com.example:perf', '-m', '2', '-b', '16', `iscsi://${ip}/iqn.2016-05.io.portway.test:${busy}/1`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    perf.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<void>((r) => perf.once('exit', () => r()));
    const stopAt = setTimeout(() => perf.kill('SIGINT'), 12_000);
    try {
      const seenAt = await waitFor(
        async () => {
          const s = (await api(tp.product, 'GET', `/api/v1/disks/${busy}/io`)).json.series as { node: string; points: Point[] }[];
          return s.some((x) => x.points.some((p) => p[0] > t0 && p[3] > 0)) ? Date.now() : undefined;
        },
        { what: 'the read rate in the API', timeoutMs: 10_000 },
      );
      assert.ok(seenAt - t0 <= 10_000, `seen after ${seenAt - t0} ms`);
    } finally {
      await exited;
      clearTimeout(stopAt);
    }
    const t1 = Date.now();
    const avg = [...out.matchAll(/iops average (\d+)/g)].map((m) => Number(m[1]));
    const initiatorIops = avg.at(-1);
    assert.ok(initiatorIops && initiatorIops > 0, `iscsi-perf said: ${out.slice(-300)}`);

    // The API's points inside the run (the first and last intervals are partial: left out).
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${busy}/io`)).json.series[0]?.points.at(-1)?.[0] > t1 ? true : undefined), {
      what: 'a sample after the run',
      timeoutMs: 10_000,
    });
    const series = (await api(tp.product, 'GET', `/api/v1/disks/${busy}/io`)).json.series as { node: string; points: Point[] }[];
    assert.deepEqual(
      series.map((s) => s.node),
      ['node1'],
    );
    const during = (series[0]?.points ?? []).filter((p) => p[0] > t0 && p[3] > 0);
    assert.ok(during.length >= 3, JSON.stringify(during));
    const inner = during.slice(1, -1);
    const apiIops = inner.reduce((a, p) => a + p[3], 0) / inner.length;
    const apiBps = inner.reduce((a, p) => a + p[1], 0) / inner.length;
    assert.ok(Math.abs(apiIops - initiatorIops) / initiatorIops <= 0.2, `API ${apiIops.toFixed(0)} read IOPS vs iscsi-perf ${initiatorIops}`);
    // 16 blocks of 512 bytes per read.
    assert.ok(Math.abs(apiBps - apiIops * 8192) / (apiIops * 8192) < 0.01, `bytes/s ${apiBps} vs IOPS ${apiIops}`);
    process.stderr.write(`# read IOPS: API ${apiIops.toFixed(0)} (mean of ${inner.length} samples), iscsi-perf average ${initiatorIops}\n`);

    // The other disk: nothing.
    const other = (await api(tp.product, 'GET', `/api/v1/disks/${idle}/io`)).json.series as { points: Point[] }[];
    assert.ok(
      other.every((s) => s.points.every((p) => p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0)),
      JSON.stringify(other),
    );
    const nodes = (await api(tp.product, 'GET', '/api/v1/io/nodes')).json.series as { node: string; points: Point[] }[];
    assert.ok(nodes.find((n) => n.node === 'node1')?.points.some((p) => p[3] > 0));

    // /metrics, parsed: reads counted on that disk only.
    const m = parsePromText(await (await fetch(`${tp.product.url}/metrics`)).text());
    assert.ok((sampleValue(m, 'portway_disk_reads_total', { disk: busy, node: 'node1' }) ?? 0) > 0);
    assert.equal(sampleValue(m, 'portway_disk_reads_total', { disk: idle, node: 'node1' }) ?? 0, 0);
  });
});

/**
 * Cluster events on a 2-node netns cluster (real agents, real tgtd, etcd): a node killed (agent and
 * tgtds SIGKILLed, cables pulled) raises node_down and disk_degraded events, delivered to a webhook
 * served by this test on 127.0.0.1; the disk recovers on the survivor, and node_up clears node_down when
 * the node is powered on again. The health summary says critical while the node is down, ok after.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { ClusterEvent } from '../../src/domain/health.js';
import { EventService } from '../../src/services/event-service.js';
import type { SimCluster } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';
import { waitFor } from '../helpers/wait.js';

const skip = haSkip();

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('cluster events: a node dies and comes back', { skip, timeout: 240_000 }, () => {
  let c: SimCluster;
  let events: EventService;
  let hook: Server;
  const received: ClusterEvent[] = [];
  before(async () => {
    c = await haCluster({ nodes: 2, leaseTtlSeconds: 3 });
    hook = createServer((req, res) => {
      void body(req).then((text) => {
        if (req.method === 'POST' && req.headers['content-type'] === 'application/json') received.push((JSON.parse(text) as { event: ClusterEvent }).event);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    events = new EventService({ store: c.store, log: pino({ level: 'silent' }) });
    await events.start();
    const addr = hook.address();
    const set = await events.setWebhook(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/portway`);
    assert.ok(set.ok, JSON.stringify(set));
  });
  after(async () => {
    await events?.close();
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
    await c?.destroy();
  });

  it('raises node_down and disk_degraded to the webhook, and clears them', async () => {
    const added = await c.disks.add({
      name: 'ev1',
      sizeGb: 1,
      activePaths: 2,
      subnet: 3,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
      placement: 'spread',
    });
    assert.ok(added.ok, JSON.stringify(added));
    const { id } = added.disk;
    const paths = await c.waitServed(id, 30_000);
    assert.deepEqual([...new Set(paths.map((p) => p.node))].sort(), ['n1', 'n2']);
    assert.equal(events.health().status, 'ok', JSON.stringify(events.health()));
    assert.equal(received.length, 0, `nothing to report while all is well: ${JSON.stringify(received)}`);

    const victim = c.node('n2');
    await victim.powerOff();
    const seen = (kind: string, subject: string) => received.find((e) => e.kind === kind && e.subject === subject);
    await waitFor(async () => (seen('node_down', 'node:n2') && seen('disk_degraded', `disk:${id}`) ? true : undefined), {
      what: 'node_down and disk_degraded at the webhook',
      timeoutMs: 30_000,
    });
    assert.equal(seen('node_down', 'node:n2')?.severity, 'critical');
    assert.match(seen('disk_degraded', `disk:${id}`)?.message ?? '', /1 of 2 paths served/);
    assert.equal(events.health().status, 'critical');
    assert.ok(events.health().problems.some((p) => p.subject === 'node:n2'));
    // The survivor takes the path over: the disk recovers while n2 is still down.
    await waitFor(async () => (seen('disk_recovered', `disk:${id}`) ? true : undefined), { what: 'disk_recovered', timeoutMs: 30_000 });

    await victim.powerOn();
    await waitFor(async () => (seen('node_up', 'node:n2') ? true : undefined), { what: 'node_up at the webhook', timeoutMs: 60_000 });
    assert.equal(seen('node_up', 'node:n2')?.clears, 'node_down');
    await waitFor(async () => (events.health().status === 'ok' ? true : undefined), { what: 'health ok again', timeoutMs: 10_000 });
    // Stored too, newest first.
    const listed = events.list(50).map((e) => e.kind);
    for (const k of ['node_down', 'disk_degraded', 'disk_recovered', 'node_up']) assert.ok(listed.includes(k as ClusterEvent['kind']), `${k} in ${listed}`);
  });
});

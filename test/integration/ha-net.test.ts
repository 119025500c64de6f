/**
 * IpRouteNetwork on a real network namespace (made by this test, deleted after it, also on a crash):
 * idempotent add, secondaries kept when the primary goes (promote_secondaries), remove whatever the
 * prefix, one-shot drop for fencing, gratuitous ARP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IpRouteNetwork } from '../../src/adapters/net/iproute.js';
import { addNamespace, addrs, deleteNamespaceSync, ipn } from '../harness/netns.js';
import { haSkip } from '../harness/suite.js';

const skip = haSkip();
const NS = `pw-${process.pid}-net`;

describe('IpRouteNetwork in a network namespace', { skip, timeout: 60_000 }, () => {
  let net: IpRouteNetwork;
  const cleanup = () => deleteNamespaceSync(NS);
  before(async () => {
    process.on('exit', cleanup);
    await addNamespace(NS);
    await ipn(NS, ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'peer1']);
    await ipn(NS, ['link', 'set', 'eth1', 'up']);
    await ipn(NS, ['link', 'set', 'peer1', 'up']);
    net = new IpRouteNetwork({ netns: NS });
  });
  after(async () => {
    await net?.close();
    cleanup();
    process.off('exit', cleanup);
  });
  const on = async () =>
    (await addrs(NS))
      .filter((a) => a.dev === 'eth1')
      .map((a) => `${a.ip}/${a.prefix}`)
      .sort();

  it('adds idempotently, keeps secondaries when the primary goes, removes whatever the prefix', async () => {
    await net.addIp('10.98.1.10', 24, 'eth1');
    await net.addIp('10.98.1.10', 24, 'eth1');
    await net.addIp('10.98.1.11', 24, 'eth1');
    assert.deepEqual(await on(), ['10.98.1.10/24', '10.98.1.11/24']);
    await net.removeIp('10.98.1.10'); // the primary: the secondary must stay
    assert.deepEqual(await on(), ['10.98.1.11/24']);
    await net.removeIp('10.98.1.10'); // gone already: no error
    assert.deepEqual(await net.listIps().then((l) => l.filter((ip) => ip.startsWith('10.98.'))), ['10.98.1.11']);
  });

  it('announces with a gratuitous ARP, and drops many addresses at once (fencing)', async () => {
    await net.addIp('10.98.1.20', 24, 'eth1');
    await net.addIp('10.98.1.21', 24, 'eth1');
    await net.announce('10.98.1.20', 'eth1');
    await net.dropIps([
      { ip: '10.98.1.20', prefix: 24, eth: 'eth1' },
      { ip: '10.98.1.21', prefix: 24, eth: 'eth1' },
      { ip: '10.98.1.99', prefix: 24, eth: 'eth1' }, // not there
      { ip: '10.98.1.11', prefix: 24, eth: 'eth1' },
    ]);
    assert.deepEqual(await on(), []);
  });

  it('adds the addresses of one turn together: one failed address fails alone, one present already is fine', async () => {
    await net.addIp('10.98.2.5', 24, 'eth1'); // present already: its line fails in the batch, and is fine
    const results = await Promise.allSettled([
      net.addIp('10.98.2.1', 24, 'eth1'),
      net.addIp('10.98.2.2', 24, 'nosuch0'),
      net.addIp('10.98.2.3', 24, 'eth1'),
      net.addIp('10.98.2.5', 24, 'eth1'),
      net.addIp('10.98.2.3', 24, 'eth1'), // twice in one batch: fine
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /nosuch0/);
    assert.deepEqual(
      (await on()).filter((a) => a.startsWith('10.98.2.')),
      ['10.98.2.1/24', '10.98.2.3/24', '10.98.2.5/24'],
    );
    await net.dropIps(['10.98.2.1', '10.98.2.3', '10.98.2.5'].map((ip) => ({ ip, prefix: 24, eth: 'eth1' })));
  });

  it('announces the addresses of one turn together: every gratuitous ARP reaches the segment', async () => {
    const ips = ['10.98.3.1', '10.98.3.2', '10.98.3.3', '10.98.3.4', '10.98.3.5'];
    await Promise.all(ips.map((ip) => net.addIp(ip, 24, 'eth1')));
    const rx = async () => {
      const [link] = JSON.parse((await ipn(NS, ['-j', '-s', 'link', 'show', 'peer1'])).stdout) as { stats64: { rx: { packets: number } } }[];
      return link?.stats64.rx.packets ?? 0;
    };
    const before = await rx();
    // announce() hands the IPs to the long-lived arping starter: the ARPs follow within milliseconds.
    await Promise.all(ips.map((ip) => net.announce(ip, 'eth1')));
    const t0 = Date.now();
    while ((await rx()) - before < ips.length && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    assert.ok((await rx()) - before >= ips.length, `peer1 received ${(await rx()) - before} packets in 3 s, want >= ${ips.length}`);
    await net.dropIps(ips.map((ip) => ({ ip, prefix: 24, eth: 'eth1' })));
  });

  it('refuses bad input before running anything', async () => {
    await assert.rejects(net.addIp('10.98.1.300', 24, 'eth1'));
    await assert.rejects(net.addIp('10.98.1.5', 24, 'eth1; reboot'));
    await assert.rejects(net.addIp('10.98.1.5', 33, 'eth1'));
  });
});

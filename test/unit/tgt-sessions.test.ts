/** Parsing tgtd's session list and counters (text as tgtd 1.0.85 prints it), and the hosts records. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignPortals, parseSessions, parseStats, sumStats } from '../../src/adapters/tgt/sessions.js';
import { connectedHosts, hostsKey, parseHosts } from '../../src/domain/hosts.js';

const SHOW = `Target 7: iqn.2016-05.io.portway.test:00007
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 2
            Initiator: iqn.2026-01.test:hostA alias: none
            Connection: 0
                IP Address: 10.0.0.5
        I_T nexus: 3
            Initiator: iqn.2026-01.test:hostB alias: hostb
            Connection: 0
                IP Address: 10.0.0.6
            Connection: 1
                IP Address: 10.0.0.6
    LUN information:
        LUN: 0
            Type: controller
    Account information:
    ACL information:
        ALL
`;
const STAT = `tgt lun sid rd_subm(bytes,cmds) rd_done(bytes,cmds) wr_subm(bytes,cmds) wr_done(bytes,cmds) errs
  7   0   2            0      0            0      0            0      0            0      0    0
  7   1   2      1048576     16      1048576     16       4096      1         4096      1    0
  7   1   3            0      0            0      0      8192      2         8192      2    1
`;

describe('tgtd sessions', () => {
  it('parses the I_T nexus list: IQN, connections and their addresses', () => {
    assert.deepEqual(parseSessions(SHOW), [
      { tid: 7, sid: 2, initiator: 'iqn.2026-01.test:hostA', connections: [{ cid: 0, address: '10.0.0.5' }] },
      {
        tid: 7,
        sid: 3,
        initiator: 'iqn.2026-01.test:hostB',
        connections: [
          { cid: 0, address: '10.0.0.6' },
          { cid: 1, address: '10.0.0.6' },
        ],
      },
    ]);
    assert.deepEqual(parseSessions('Target 1: iqn.x:y\n    I_T nexus information:\n    LUN information:\n'), []);
  });

  it('parses and sums the done counters per target and per session', () => {
    const rows = parseStats(STAT);
    assert.equal(rows.length, 3);
    const { io, perSession } = sumStats(rows, 7);
    assert.deepEqual(io, { readBytes: 1048576, reads: 16, writeBytes: 12288, writes: 3, errors: 1 });
    assert.deepEqual(perSession.get(3), { readBytes: 0, reads: 0, writeBytes: 8192, writes: 2 });
    assert.deepEqual(sumStats(rows, 8).io, { readBytes: 0, reads: 0, writeBytes: 0, writes: 0, errors: 0 });
  });

  it('puts each session on the portal of its socket; one portal takes all', () => {
    const sessions = parseSessions(SHOW);
    const on = assignPortals(sessions, [
      { portal: '192.168.1.20', address: '10.0.0.5' },
      { portal: '192.168.2.20', address: '10.0.0.6' },
      { portal: '192.168.2.20', address: '10.0.0.6' },
    ]);
    assert.deepEqual(
      on.map((s) => [s.sid, s.portal]),
      [
        [2, '192.168.1.20'],
        [3, '192.168.2.20'],
      ],
    );
    assert.deepEqual(
      assignPortals(sessions, [], '192.168.9.9').map((s) => s.portal),
      ['192.168.9.9', '192.168.9.9'],
    );
    assert.deepEqual(
      assignPortals(sessions, []).map((s) => s.portal),
      ['', ''],
    );
  });
});

describe('hosts records', () => {
  const rec = (sessions: unknown) => JSON.stringify({ v: 1, sessions, at: '2026-01-01T00:00:00.000Z' });
  const s1 = { iqn: 'iqn.2026-01.test:a', address: '10.0.0.5', portal: '192.168.1.20', connections: 1, since: '2026-01-01T00:00:00.000Z' };
  it('keeps live nodes only, and names the path of each portal', () => {
    const kvs = [
      { key: hostsKey('00007', 'n1'), value: rec([s1]) },
      { key: hostsKey('00007', 'gone'), value: rec([{ ...s1, iqn: 'iqn.2026-01.test:old' }]) },
      { key: hostsKey('00007', 'n2'), value: rec([{ ...s1, iqn: 'iqn.2026-01.test:b', portal: '192.168.9.9' }]) },
    ];
    const hosts = connectedHosts(kvs, new Set(['n1', 'n2']), new Map([['192.168.1.20', 1]]));
    assert.deepEqual(
      hosts.map((h) => [h.iqn, h.node, h.path]),
      [
        ['iqn.2026-01.test:a', 'n1', 1],
        ['iqn.2026-01.test:b', 'n2', null],
      ],
    );
  });
  it('drops what is not a record', () => {
    assert.equal(parseHosts('/portway/hosts/7/n1', rec([s1])), undefined);
    assert.equal(parseHosts(hostsKey('00007', 'n1'), 'nope'), undefined);
    assert.deepEqual(parseHosts(hostsKey('00007', 'n1'), rec([{ iqn: 'bad iqn with spaces', address: 'x' }, s1]))?.sessions, [s1]);
  });
});

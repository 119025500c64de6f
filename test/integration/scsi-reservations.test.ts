/**
 * SCSI reservations across the paths of one disk, against a real tgtd started here: two hosts (initiators
 * a and b), each with its own iSCSI session held open by tools/pw-scsi, host a through portal 1 and host
 * b through portal 2 of the same target. What tgt really answers is asserted, quirks included:
 *
 * - every new session (I_T nexus) gets UNIT ATTENTION 29h/00h (power on, reset or bus device reset) on
 *   its first command; INQUIRY does not consume it; a LUN RESET sets it again on every session;
 * - RESERVE(6): the other host gets RESERVATION CONFLICT for reads, writes and TEST UNIT READY (INQUIRY
 *   passes); released by RELEASE(6), a LUN RESET or the end of the holder's session; no UA either way;
 * - persistent reservations outlive the session and are bound to tgt's nexus, not to the host;
 * - tgt's UA on RELEASE of a WE/EA reservation lands on the releasing host, not on the other
 *   registrants (tgt calls ua_sense_add_other_it_nexus() once per other registrant);
 * - two tgtds on one backing file share nothing: that is why Portway runs one tgtd per disk.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { missingTools } from '../helpers/product.js';
import { PW_SCSI, type ScsiResult, ScsiSession } from '../helpers/scsi-session.js';
import { requireService } from '../helpers/services.js';
import { TestTgtd } from '../helpers/tgtd.js';

const skip = missingTools(['tgtd', 'tgtadm']) ?? requireService('pw-scsi', existsSync(PW_SCSI), `${PW_SCSI} is missing: run scripts/setup.sh`).skip;

// 127.77.0.x portals belong to this file (the whole 127/8 answers on lo: no address is added).
const PORTAL_1 = '127.77.0.1';
const PORTAL_2 = '127.77.0.2';
const PORTAL_OTHER_TGTD = '127.77.0.3';
const IQN = 'iqn.2016-05.io.portway.test:scsi-res';
const HOST_A = 'iqn.1994-05.com.example:a';
const HOST_B = 'iqn.1994-05.com.example:b';
const url = (portal: string) => `iscsi://${portal}/${IQN}/1`;

/** UNIT ATTENTION with asc/ascq. */
const UA = (asc: number, ascq: number) => ({ status: 'CHECK_CONDITION', sense: { key: 'UNIT_ATTENTION', asc, ascq } });
const POWER_ON_RESET = UA(0x29, 0x00);
const RESERVATIONS_PREEMPTED = UA(0x2a, 0x03);
const RESERVATIONS_RELEASED = UA(0x2a, 0x04);

/** Asserts the fields of `want` (a partial answer; sense compared by key/asc/ascq only). */
type Want = { status: string; sense?: { key: string; asc: number; ascq: number } } & Partial<Omit<ScsiResult, 'status' | 'sense'>>;
function check(res: ScsiResult, want: Want, what: string): void {
  const msg = `${what}: got ${JSON.stringify(res)}`;
  const { sense, ...rest } = want;
  for (const [k, v] of Object.entries(rest)) assert.deepEqual(res[k as keyof ScsiResult], v, msg);
  if (sense) assert.deepEqual(res.sense && { key: res.sense.key, asc: res.sense.asc, ascq: res.sense.ascq }, sense, msg);
  else assert.equal(res.sense, undefined, msg);
  assert.equal(res.ok, want.status === 'GOOD', msg);
}

describe('SCSI reservations across two paths of one tgt target (pw-scsi sessions)', { skip }, () => {
  let dir: string;
  let backing: string;
  let tgtd: TestTgtd;
  const open: ScsiSession[] = [];

  /** A session whose UNIT ATTENTION 29h/00h has been seen and consumed (asserted: nothing else pending). */
  async function host(portal: string, initiator: string): Promise<ScsiSession> {
    const s = await ScsiSession.open(url(portal), { initiator });
    open.push(s);
    check(await s.send('tur'), POWER_ON_RESET, `${initiator}: first command of a new session`);
    check(await s.send('tur'), { status: 'GOOD' }, `${initiator}: second TUR`);
    return s;
  }

  async function closeAll(): Promise<void> {
    await Promise.all(open.splice(0).map((s) => s.close()));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pw-scsi-res-'));
    backing = join(dir, 'disk.img');
    writeFileSync(backing, '');
    truncateSync(backing, 64 * 1024 * 1024);
    tgtd = await TestTgtd.start(dir, 'tgtd-1', IQN, [PORTAL_1, PORTAL_2], backing);
  });

  after(async () => {
    await closeAll();
    await tgtd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a new session: the first command gets UNIT ATTENTION 29h/00h (INQUIRY passes it by), then TUR is GOOD; both portals show one LU', async (t) => {
    t.after(closeAll);
    const a = await ScsiSession.open(url(PORTAL_1), { initiator: HOST_A });
    const b = await ScsiSession.open(url(PORTAL_2), { initiator: HOST_B });
    open.push(a, b);
    const inqA = await a.send('inquiry');
    check(inqA, { status: 'GOOD', vendor: 'IET', product: 'VIRTUAL-DISK' }, 'INQUIRY is not held back by the UA');
    check(await a.send('tur'), POWER_ON_RESET, 'a: first TUR');
    check(await a.send('tur'), { status: 'GOOD' }, 'a: second TUR');
    // a READ as first command: the tool's lazy READ CAPACITY meets the UA and says so
    check(await b.send('read 0 1'), { ...POWER_ON_RESET, during: 'readcap' }, 'b: first command (read)');
    check(await b.send('tur'), { status: 'GOOD' }, 'b: second command');
    assert.equal((await b.send('inquiry')).serial, inqA.serial, 'one LU behind both portals');
    check(await b.send('readcap'), { status: 'GOOD', block_size: 512, blocks: 131072, bytes: 64 * 1024 * 1024 }, 'b: readcap');
  });

  it('RESERVE(6) by a: b gets RESERVATION CONFLICT (write, read, TUR; INQUIRY passes); after RELEASE(6) b writes; no UA', async (t) => {
    t.after(closeAll);
    const a = await host(PORTAL_1, HOST_A);
    const b = await host(PORTAL_2, HOST_B);
    check(await a.send('reserve6'), { status: 'GOOD' }, 'a reserves');
    check(await b.send('write 0 1 0xb1'), { status: 'RESERVATION_CONFLICT' }, 'b writes');
    check(await b.send('tur'), { status: 'RESERVATION_CONFLICT' }, 'b: TUR under a RESERVE(6) of a');
    check(await b.send('read 0 1'), { status: 'RESERVATION_CONFLICT' }, 'b reads');
    check(await b.send('inquiry'), { status: 'GOOD' }, 'b: INQUIRY');
    check(await b.send('reserve6'), { status: 'RESERVATION_CONFLICT' }, 'b reserves too');
    check(await a.send('write 0 1 0xa1'), { status: 'GOOD' }, 'a (holder) writes');
    check(await a.send('reserve6'), { status: 'GOOD' }, 'a reserves again (holder: GOOD)');
    check(await a.send('release6'), { status: 'GOOD' }, 'a releases');
    check(await b.send('tur'), { status: 'GOOD' }, 'b: TUR after the release (no UA)');
    check(await b.send('write 0 1 0xb1'), { status: 'GOOD' }, 'b writes after the release');
    check(await a.send('read 0 1'), { status: 'GOOD', head: 'b1'.repeat(16) }, "a reads b's data");
    check(await a.send('tur'), { status: 'GOOD' }, 'a: no UA either');
  });

  it("RESERVE(6) ends with the holder's session and with a LUN RESET (which sets UA 29h/00h on every session); TARGET RESET is not supported", async (t) => {
    t.after(closeAll);
    const a1 = await host(PORTAL_1, HOST_A);
    const b = await host(PORTAL_2, HOST_B);
    check(await a1.send('reserve6'), { status: 'GOOD' }, 'a reserves');
    check(await b.send('write 0 1 2'), { status: 'RESERVATION_CONFLICT' }, 'b writes');
    await a1.close();
    check(await b.send('write 0 1 2'), { status: 'GOOD' }, "b writes once a's session ended");

    const a2 = await host(PORTAL_1, HOST_A);
    check(await a2.send('reserve6'), { status: 'GOOD' }, 'a reserves again');
    check(await a2.send('lun-reset'), { status: 'GOOD', response: 0 }, 'a: LUN RESET');
    check(await a2.send('tur'), POWER_ON_RESET, 'a after its LUN RESET');
    check(await b.send('tur'), POWER_ON_RESET, 'b after the LUN RESET');
    check(await b.send('write 0 1 3'), { status: 'GOOD' }, 'b writes: the reset dropped the RESERVE(6)');
    check(await a2.send('target-reset'), { status: 'TMF_REJECTED', response: 5 }, 'TARGET WARM RESET: function not supported');
    check(await b.send('tur'), { status: 'GOOD' }, 'b: nothing after the refused TARGET RESET');
  });

  it('PERSISTENT RESERVE (write exclusive) by a: b sees the key, reads, gets RESERVATION CONFLICT on writes; after RELEASE b writes', async (t) => {
    t.after(closeAll);
    const a = await host(PORTAL_1, HOST_A);
    const b = await host(PORTAL_2, HOST_B);
    check(await a.send('prout-register 0xa1'), { status: 'GOOD' }, 'a registers');
    check(await a.send('prout-reserve 0xa1 we'), { status: 'GOOD' }, 'a reserves (WE)');
    check(await b.send('prin-keys'), { status: 'GOOD', keys: ['0xa1'] }, 'b reads the keys');
    check(await b.send('prin-reservation'), { status: 'GOOD', reserved: true, key: '0xa1', type: 'we' }, 'b reads the reservation');
    check(await b.send('write 0 1 4'), { status: 'RESERVATION_CONFLICT' }, 'b writes');
    check(await b.send('read 0 1'), { status: 'GOOD' }, 'b reads (write exclusive)');
    check(await b.send('tur'), { status: 'GOOD' }, 'b: TUR under a PR');
    check(await b.send('prout-reserve 0xb2 we'), { status: 'RESERVATION_CONFLICT' }, 'b (not registered) reserves');
    check(await a.send('write 0 1 5'), { status: 'GOOD' }, 'a (holder) writes');
    check(await a.send('prout-release 0xa1 we'), { status: 'GOOD' }, 'a releases');
    check(await b.send('prin-reservation'), { status: 'GOOD', reserved: false }, 'no reservation');
    check(await b.send('write 0 1 6'), { status: 'GOOD' }, 'b writes after the release');
    check(await b.send('tur'), { status: 'GOOD' }, 'b (not registered): no UA');
    check(await a.send('tur'), { status: 'GOOD' }, 'a: no UA (no other registrant)');
    check(await a.send('prout-unregister 0xa1'), { status: 'GOOD' }, 'a unregisters');
    check(await b.send('prin-keys'), { status: 'GOOD', keys: [] }, 'no key left');
  });

  it('PR with both hosts registered: WE blocks even a registered b; RELEASE puts UA 2Ah/04h on a (tgt quirk); PREEMPT puts 2Ah/03h on the preempted a', async (t) => {
    t.after(closeAll);
    const a = await host(PORTAL_1, HOST_A);
    const b = await host(PORTAL_2, HOST_B);
    check(await a.send('prout-register 0xa1'), { status: 'GOOD' }, 'a registers');
    check(await b.send('prout-register 0xb2'), { status: 'GOOD' }, 'b registers');
    check(await a.send('prout-reserve 0xa1 we'), { status: 'GOOD' }, 'a reserves (WE)');
    check(await b.send('write 0 1 7'), { status: 'RESERVATION_CONFLICT' }, 'b (registered) writes under WE');
    check(await a.send('prout-release 0xa1 we'), { status: 'GOOD' }, 'a releases');
    // SPC-3 sets no UA when a WE/EA reservation is released; tgt adds RESERVATIONS RELEASED to every
    // nexus *other than* each other registrant, so the releasing host a gets it and b does not.
    check(await b.send('tur'), { status: 'GOOD' }, 'b after the release');
    check(await a.send('prout-reserve 0xa1 ea'), RESERVATIONS_RELEASED, 'a: its next command meets the UA (not executed)');
    check(await a.send('prout-reserve 0xa1 ea'), { status: 'GOOD' }, 'a reserves (EA)');
    check(await b.send('read 0 1'), { status: 'RESERVATION_CONFLICT' }, 'b reads under EA');
    check(await b.send('prout-preempt 0xb2 0xa1 ea'), { status: 'GOOD' }, "b preempts a's key");
    check(await a.send('tur'), RESERVATIONS_PREEMPTED, 'a after the preempt');
    check(await a.send('prin-keys'), { status: 'GOOD', keys: ['0xb2'] }, "a's registration is gone");
    check(await a.send('prin-reservation'), { status: 'GOOD', reserved: true, key: '0xb2', type: 'ea' }, 'b holds');
    check(await a.send('write 0 1 8'), { status: 'RESERVATION_CONFLICT' }, 'a writes');
    check(await b.send('write 0 1 9'), { status: 'GOOD' }, 'b writes');
    check(await b.send('prout-clear 0xb2'), { status: 'GOOD' }, 'b clears');
    check(await a.send('write 0 1 10'), { status: 'GOOD' }, 'a writes after the clear');
    check(await b.send('prin-keys'), { status: 'GOOD', keys: [] }, 'no key left');
  });

  it("a PR outlives its host's session and stays bound to the old nexus: a logging in again is not the holder until it preempts", async (t) => {
    t.after(closeAll);
    const a1 = await host(PORTAL_1, HOST_A);
    const b = await host(PORTAL_2, HOST_B);
    check(await a1.send('prout-register 0xa1'), { status: 'GOOD' }, 'a registers');
    check(await a1.send('prout-reserve 0xa1 we'), { status: 'GOOD' }, 'a reserves');
    await a1.close();
    check(await b.send('prin-reservation'), { status: 'GOOD', reserved: true, key: '0xa1', type: 'we' }, 'the reservation outlived the session');
    check(await b.send('write 0 1 11'), { status: 'RESERVATION_CONFLICT' }, 'b writes');
    const a2 = await host(PORTAL_1, HOST_A);
    check(await a2.send('write 0 1 12'), { status: 'RESERVATION_CONFLICT' }, 'a, logged in again (a new nexus), writes');
    check(await a2.send('prout-release 0xa1 we'), { status: 'RESERVATION_CONFLICT' }, 'a releases without being registered');
    check(await a2.send('prout-register-ignore 0xa2'), { status: 'GOOD' }, 'a registers its new nexus');
    check(await a2.send('prout-preempt 0xa2 0xa1 we'), { status: 'GOOD' }, 'a preempts its own stale key');
    check(await a2.send('write 0 1 13'), { status: 'GOOD' }, 'a writes again');
    check(await b.send('tur'), { status: 'GOOD' }, 'b (never registered): no UA');
    check(await a2.send('prout-clear 0xa2'), { status: 'GOOD' }, 'a clears');
    check(await b.send('write 0 1 14'), { status: 'GOOD' }, 'b writes');
    check(await b.send('prin-keys'), { status: 'GOOD', keys: [] }, 'no key left');
  });

  it('two tgtds (one per portal) on one backing file share no reservation: b writes although a reserved (why Portway runs one tgtd per disk)', async (t) => {
    const other = await TestTgtd.start(dir, 'tgtd-2', IQN, [PORTAL_OTHER_TGTD], backing);
    t.after(async () => {
      await closeAll();
      await other.stop();
    });
    const a = await host(PORTAL_1, HOST_A);
    const b = await host(PORTAL_OTHER_TGTD, HOST_B);
    check(await a.send('reserve6'), { status: 'GOOD' }, 'a reserves through tgtd 1');
    check(await b.send('write 0 1 0x22'), { status: 'GOOD' }, 'b writes through tgtd 2 into the reserved disk');
    check(await a.send('read 0 1'), { status: 'GOOD', head: '22'.repeat(16) }, "a reads b's write: same data, no shared reservation");
    check(await a.send('release6'), { status: 'GOOD' }, 'a releases');
    check(await a.send('prout-register 0xa1'), { status: 'GOOD' }, 'a registers on tgtd 1');
    check(await a.send('prout-reserve 0xa1 ea'), { status: 'GOOD' }, 'a reserves (EA) on tgtd 1');
    check(await b.send('prin-keys'), { status: 'GOOD', keys: [] }, 'tgtd 2 knows no key');
    check(await b.send('write 0 1 0x23'), { status: 'GOOD' }, 'b writes through tgtd 2');
    check(await a.send('prout-clear 0xa1'), { status: 'GOOD' }, 'a clears');
  });

  it('the tool never reconnects by itself: a dropped session answers TRANSPORT; the next login gets UA 29h/00h', async (t) => {
    t.after(closeAll);
    const a1 = await host(PORTAL_1, HOST_A);
    const sid = await tgtd.sessionOf(HOST_A);
    await tgtd.adm(['--lld', 'iscsi', '--op', 'delete', '--mode', 'conn', '--tid', '1', '--sid', sid, '--cid', '0']);
    const first = await a1.send('tur');
    check(first, { status: 'TRANSPORT' }, 'a after its connection was dropped');
    assert.match(first.error ?? '', /\S/);
    check(await a1.send('write 0 1 1'), { status: 'TRANSPORT' }, 'and it stays down');
    await host(PORTAL_1, HOST_A); // asserts the UA of the new session
  });

  it('bad input answers USAGE and the session goes on', async (t) => {
    t.after(closeAll);
    const a = await host(PORTAL_1, HOST_A);
    const bad = [
      'nosuch',
      'read',
      'read 1',
      'read x 1',
      'read 0 0',
      'read -1 1',
      'read 0 99999999999999999999999',
      'read 0 100000',
      'write 0 1 256',
      'write 0 1 0x',
      'prout-register',
      'prout-register 0xzz',
      'prout-reserve 1 wx',
      'prout-preempt 1 2',
      'tur extra',
      `read ${'9'.repeat(5000)} 1`,
      'a b c d e f g h i j',
    ];
    for (const line of bad) {
      const res = await a.send(line);
      assert.equal(res.status, 'USAGE', `${line.slice(0, 40)}: ${JSON.stringify(res)}`);
      assert.equal(res.ok, false);
      assert.match(res.error ?? '', /\S/);
    }
    check(await a.send('tur'), { status: 'GOOD' }, 'the session is still fine');
    await assert.rejects(a.send('tur\nquit'), /one line/);
  });

  it('a failed login is one connect line and a clear error', async () => {
    await assert.rejects(ScsiSession.open(`iscsi://${PORTAL_1}/${IQN}-nosuch/1`, { initiator: HOST_A }), /login failed: .*not found/i);
    await assert.rejects(ScsiSession.open(`iscsi://127.77.0.9/${IQN}/1`, { initiator: HOST_A }), /connect failed: .*refused/i);
  });
});

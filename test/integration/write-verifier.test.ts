/**
 * The write verifier (tools/pw-verify, issue 17) against a real tgtd started here, with a file-backed LUN
 * behind two portals: a clean run finds nothing, and it does fail when it should — an acknowledged write
 * dropped from the backing file is reported lost, an older stamped block written back is reported stale
 * (and the write right before the last ack written back is reported lost, not stale), and a path deleted
 * under a running verifier is followed to the other portal with nothing lost.
 * Each case writes its own region of the LUN (LBA ranges below), so the cases do not depend on each other.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { missingTools } from '../helpers/product.js';
import { requireService } from '../helpers/services.js';
import { TestTgtd } from '../helpers/tgtd.js';
import { PW_VERIFY, readStamp, readVerifierState, runVerifier, startVerifier, type VerifierOptions, type VerifierResult } from '../helpers/write-verifier.js';

const skip = missingTools(['tgtd', 'tgtadm']) ?? requireService('pw-verify', existsSync(PW_VERIFY), `${PW_VERIFY} is missing: run scripts/setup.sh`).skip;

// 127.78.0.x portals belong to this file (the whole 127/8 answers on lo: no address is added).
const PORTAL_1 = '127.78.0.1';
const PORTAL_2 = '127.78.0.2';
const IQN = 'iqn.2016-05.io.portway.test:write-verifier';
const INITIATOR = 'iqn.1994-05.com.example:pw-verify';
const url = (portal: string) => `iscsi://${portal}/${IQN}/1`;
const BLOCK = 512;
const LUN_BYTES = 64 * 1024 * 1024;

/** The result's counters in one line, for assertion messages. */
const summary = (r: VerifierResult) =>
  JSON.stringify({ ...r, problems: r.problems.slice(0, 4), stderr: undefined }) + (r.exitCode === 0 ? '' : `\nstderr: ${r.stderr.slice(-1500)}`);

describe('pw-verify: the write verifier against a real tgtd (file-backed LUN, two portals)', { skip }, () => {
  let dir: string;
  let backing: string;
  let tgtd: TestTgtd;

  const opts = (o: Partial<VerifierOptions>): VerifierOptions => ({
    urls: [url(PORTAL_1)],
    initiator: INITIATOR,
    cmdTimeoutS: 5,
    giveUpS: 20,
    ...o,
  });

  function readBlock(file: string, lba: number): Buffer {
    const buf = Buffer.alloc(BLOCK);
    const fd = openSync(file, 'r');
    try {
      assert.equal(readSync(fd, buf, 0, BLOCK, lba * BLOCK), BLOCK);
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** Writes one block straight into the backing file (behind tgtd's back: rdwr goes through the page cache, as this does). */
  function writeBlock(lba: number, data: Buffer): void {
    const fd = openSync(backing, 'r+');
    try {
      assert.equal(writeSync(fd, data, 0, BLOCK, lba * BLOCK), BLOCK);
    } finally {
      closeSync(fd);
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pw-verify-'));
    backing = join(dir, 'disk.img');
    writeFileSync(backing, '');
    truncateSync(backing, LUN_BYTES);
    tgtd = await TestTgtd.start(dir, 'tgtd', IQN, [PORTAL_1, PORTAL_2], backing);
  });

  after(async () => {
    await tgtd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a clean run of 3 s: thousands of acknowledged writes, 0 lost, 0 stale, exit 0; the state file records every block', async () => {
    const state = join(dir, 'clean.state');
    const r = await runVerifier(opts({ seconds: 3, blocks: 1024, lbaStart: 0, state }));
    const s = summary(r);
    assert.equal(r.exitCode, 0, s);
    assert.equal(r.ok, true, s);
    assert.equal(r.mode, 'write', s);
    assert.equal(r.block_size, BLOCK, s);
    assert.ok(r.acked_writes > 1000, s);
    assert.equal(r.writes_issued, r.acked_writes, s);
    assert.equal(r.lost, 0, s);
    assert.equal(r.stale, 0, s);
    assert.equal(r.in_doubt_writes, 0, s);
    assert.equal(r.reconnects, 0, s);
    assert.equal(r.blocks_checked, 1024, s);
    assert.equal(r.blocks_acked, 1024, s); // thousands of random writes over 1024 blocks touch every one
    assert.equal(r.url, url(PORTAL_1));
    assert.ok(r.ua_retries >= 1, `the new session's UNIT ATTENTION was retried: ${s}`);
    assert.ok(r.seconds >= 3 && r.seconds < 10, s);

    const st = readVerifierState(state);
    assert.equal(st.runId, r.run_id);
    assert.equal(st.ackedWrites, r.acked_writes);
    assert.equal(st.nextSeq, r.writes_issued + 1);
    assert.equal(st.records.size, 1024);
    for (const [lba, rec] of st.records) {
      assert.ok(rec.acked > rec.prev && rec.inDoubt.length === 0, `LBA ${lba}: ${JSON.stringify(rec)}`);
      const stamp = readStamp(readBlock(backing, lba));
      assert.deepEqual(stamp, { lba, seq: rec.acked, runId: r.run_id }, `LBA ${lba} holds its last acknowledged write`);
    }

    // read back again later: still clean
    const again = await runVerifier(opts({ verifyOnly: true, state }));
    assert.equal(again.exitCode, 0, summary(again));
    assert.equal(again.mode, 'verify-only');
    assert.equal(again.lost + again.stale, 0, summary(again));
    assert.equal(again.writes_issued, 0);
  });

  it('a dropped write: one acknowledged block zeroed in the backing file -> --verify-only reports exactly 1 lost, exit 1', async () => {
    const state = join(dir, 'dropped.state');
    const LBA0 = 2048;
    const w = await runVerifier(opts({ maxWrites: 5000, seconds: 30, blocks: 1024, lbaStart: LBA0, state }));
    assert.equal(w.exitCode, 0, summary(w));
    assert.equal(w.acked_writes, 5000, summary(w));
    const st = readVerifierState(state);
    const [lba, rec] = [...st.records].find(([, x]) => x.prev > 0) ?? assert.fail('a block with two acknowledged writes');
    writeBlock(lba, Buffer.alloc(BLOCK)); // the last acknowledged write "never landed" (nor anything before it)

    const r = await runVerifier(opts({ verifyOnly: true, state }));
    const s = summary(r);
    assert.equal(r.exitCode, 1, s);
    assert.equal(r.ok, false, s);
    assert.equal(r.lost, 1, s);
    assert.equal(r.stale, 0, s);
    assert.equal(r.blocks_checked, 1024, s);
    assert.deepEqual(r.problems, [{ lba, kind: 'lost', reason: 'no stamp (zeros)', on_disk_seq: null, acked_seq: rec.acked, prev_acked_seq: rec.prev }]);
  });

  it('an injected stale write: an older stamped block written back after newer acks -> stale (and the block before the last ack -> lost), exit 1', async () => {
    // Two runs over one history (--continue); the region's content between them is kept. 8192 writes over
    // 4096 blocks per run: plenty of blocks get 2+ acknowledged writes in run 2, plenty exactly 1.
    const state = join(dir, 'stale.state');
    const LBA0 = 8192;
    const BLOCKS = 4096;
    const w1 = await runVerifier(opts({ maxWrites: 8192, seconds: 60, blocks: BLOCKS, lbaStart: LBA0, state, seed: 1 }));
    assert.equal(w1.exitCode, 0, summary(w1));
    const before1 = new Map<number, Buffer>();
    for (let lba = LBA0; lba < LBA0 + BLOCKS; lba++) before1.set(lba, readBlock(backing, lba));

    const w2 = await runVerifier(opts({ maxWrites: 8192, seconds: 60, state, continue: true, seed: 2 }));
    assert.equal(w2.exitCode, 0, summary(w2));
    assert.equal(w2.run_id, w1.run_id, 'one history');
    assert.equal(w2.acked_writes_total, 16384, summary(w2));
    const st = readVerifierState(state);

    // the run-1 content of each block, against run 2's record
    const old = (lba: number) => readStamp(before1.get(lba) as Buffer)?.seq ?? 0;
    const staleLba = [...st.records.keys()].find((lba) => old(lba) > 0 && old(lba) < (st.records.get(lba)?.prev ?? 0));
    const lostLba = [...st.records.keys()].find((lba) => old(lba) > 0 && old(lba) === st.records.get(lba)?.prev);
    assert.ok(staleLba !== undefined && lostLba !== undefined, 'blocks with 2+ and with exactly 1 acknowledged write in run 2');

    // 1. a write older than two acknowledged ones lands: stale
    writeBlock(staleLba, before1.get(staleLba) as Buffer);
    const r1 = await runVerifier(opts({ verifyOnly: true, state }));
    assert.equal(r1.exitCode, 1, summary(r1));
    assert.equal(r1.stale, 1, summary(r1));
    assert.equal(r1.lost, 0, summary(r1));
    const rec = st.records.get(staleLba);
    assert.deepEqual(
      r1.problems.map(({ reason: _, ...p }) => p),
      [{ lba: staleLba, kind: 'stale', on_disk_seq: old(staleLba), acked_seq: rec?.acked, prev_acked_seq: rec?.prev }],
    );

    // 2. the disk shows the write acknowledged right before the last one: the last one was lost
    writeBlock(lostLba, before1.get(lostLba) as Buffer);
    const r2 = await runVerifier(opts({ verifyOnly: true, state }));
    assert.equal(r2.exitCode, 1, summary(r2));
    assert.equal(r2.stale, 1, summary(r2));
    assert.equal(r2.lost, 1, summary(r2));
    const lost = r2.problems.find((p) => p.kind === 'lost');
    assert.equal(lost?.lba, lostLba, summary(r2));
    assert.equal(lost?.on_disk_seq, old(lostLba));
    assert.equal(lost?.prev_acked_seq, old(lostLba));
  });

  it('a path change: portal 1 deleted and its session dropped under a running verifier -> it reconnects through portal 2; 0 lost, 0 stale', async (t) => {
    t.after(async () => {
      if (!(await tgtd.portals()).includes(`${PORTAL_1}:3260`)) await tgtd.portal('new', PORTAL_1);
    });
    const state = join(dir, 'path.state');
    const v = startVerifier(opts({ urls: [url(PORTAL_1), url(PORTAL_2)], seconds: 0, blocks: 1024, lbaStart: 16384, state }));
    try {
      await v.waitFor(/ acked [1-9]\d* .* via iscsi:\/\/127\.78\.0\.1\//, 15_000);
      await tgtd.portal('delete', PORTAL_1);
      assert.ok(!(await tgtd.portals()).includes(`${PORTAL_1}:3260`), 'portal 1 is gone');
      assert.equal(await tgtd.dropSessions(INITIATOR), 1, 'the verifier had one session');
      await v.waitFor(/reconnected through iscsi:\/\/127\.78\.0\.2\//, 30_000);
      // progress lines name the path in use: once one names portal 2, a second more of writing there
      await v.waitFor(/ acked \d+ .* via iscsi:\/\/127\.78\.0\.2\//, 15_000);
      await new Promise((r) => setTimeout(r, 1000));
    } catch (e) {
      await v.stop().catch(() => {});
      throw e;
    }
    const r = await v.stop();
    const s = summary(r);
    assert.equal(r.exitCode, 0, s);
    assert.equal(r.lost, 0, s);
    assert.equal(r.stale, 0, s);
    assert.ok(r.reconnects >= 1, s);
    assert.equal(r.url, url(PORTAL_2), s);
    assert.ok(r.acked_writes > 1000, s);
    assert.ok(r.in_doubt_writes <= 16, `at most the queue depth was in flight: ${s}`);
    assert.equal(r.writes_issued, r.acked_writes + r.in_doubt_writes, s);
    assert.ok(r.ua_retries >= 2, `each new session's UNIT ATTENTION was retried: ${s}`);
    assert.match(r.stderr, /session through iscsi:\/\/127\.78\.0\.1\/\S+ failed: .*in doubt/);
    const st = readVerifierState(state);
    assert.equal(st.ackedWrites, r.acked_writes);
  });

  it('start failures exit 2 with a JSON line: bad options, no path answering, a missing or damaged state file', async () => {
    const bad: [Partial<VerifierOptions>, string, RegExp][] = [
      [{ queueDepth: 999 }, 'usage', /queue-depth/],
      [{ urls: ['iscsi://127.78.0.2/no-lun'] }, 'usage', /bad --url/],
      [{ urls: ['iscsi://127.78.0.9/x/1', url(PORTAL_2).replace(IQN, `${IQN}-nosuch`)] }, 'connect', /refused.*not found/is],
      [{ blocks: 16, lbaStart: LUN_BYTES / BLOCK - 8 }, 'readcap', /beyond the disk/],
      [{ blockSize: 4096 }, 'readcap', /block size 512/],
      [{ verifyOnly: true, state: join(dir, 'nosuch.state') }, 'state', /cannot read/],
      [{ verifyOnly: true }, 'usage', /need --state/],
    ];
    const damaged = join(dir, 'damaged.state');
    writeFileSync(damaged, 'pw-verify-state 1\nrun_id 0000000000000001\nblock_size 512\nlba_start 0\nblocks 8\nnext_seq 9\nacked_writes 2\nb 3 5 7 -\nend\n');
    bad.push([{ verifyOnly: true, state: damaged }, 'state', /line 8: acked\/previous/]);
    for (const [o, stage, re] of bad) {
      const r = await runVerifier(opts({ seconds: 1, ...o }));
      const s = `${JSON.stringify(o)}: ${summary(r)}`;
      assert.equal(r.exitCode, 2, s);
      assert.equal(r.ok, false, s);
      assert.equal(r.stage, stage, s);
      assert.match(r.error ?? '', re, s);
    }
  });
});

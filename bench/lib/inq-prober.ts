/**
 * A long-lived INQUIRY prober for bench/failover-scale.ts, run inside the client namespace
 * (`ip netns exec <client> nice -n -10 node --import tsx bench/lib/inq-prober.ts <initiator>`).
 *
 * stdin, one JSON object a line: {"key", "ip", "iqn", "expect"}: probe that path (bench/lib/iscsi-inq.ts)
 * until it answers with serial `expect`, again 20 ms after each miss, for at most 120 s.
 * stdout, one JSON object a line per path: {"key", "at", "attempts", "connectRetries", "ok", "got"}
 * (connectRetries: connects dropped after 100 ms without an answer to the SYN); `at` is the wall
 * clock of the answer in ms with a fraction (performance.timeOrigin + performance.now(), comparable
 * with the bench's own clock on the same host).
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { inquirySerial } from './iscsi-inq.js';

const initiator = process.argv[2];
if (!initiator) {
  process.stderr.write('usage: inq-prober.ts <initiator IQN>\n');
  process.exit(2);
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

async function probe(p: { key: string; ip: string; iqn: string; expect: string }): Promise<void> {
  const end = performance.now() + 120_000;
  let attempts = 0;
  let got = '';
  const stats = { connectRetries: 0 };
  while (performance.now() < end) {
    attempts++;
    got = await inquirySerial(p.ip, p.iqn, { initiator: initiator as string, timeoutMs: 3000, connectRetryMs: 100, stats }).catch(
      (e) => `error: ${String((e as Error).message).slice(0, 120)}`,
    );
    if (got === p.expect) {
      process.stdout.write(`${JSON.stringify({ key: p.key, at: now(), attempts, connectRetries: stats.connectRetries, ok: true, got })}\n`);
      return;
    }
    await sleep(20);
  }
  process.stdout.write(`${JSON.stringify({ key: p.key, at: now(), attempts, connectRetries: stats.connectRetries, ok: false, got })}\n`);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  void probe(JSON.parse(line));
});
process.stdout.write(`${JSON.stringify({ ready: true, at: now() })}\n`);

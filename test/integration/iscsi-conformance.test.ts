/**
 * iSCSI/SCSI protocol conformance of a disk served by Portway: libiscsi's iscsi-test-cu, run against a
 * real product (startTestProduct) and a disk added through the API, in the runs listed in
 * test/conformance-expectations/iscsi-test-cu.json (ALL through one path, the iSCSI family, and the
 * suites that use a second connection with it on the disk's second path).
 *
 * The data file lists the failures to expect, each with the reason (a gap of tgt itself: the disk is
 * shared, one tgtd holding both paths' portals, so the two-path runs fail only where tgt fails on one). The test fails on any other failure, and on a run that ran too few tests; it reports
 * (without failing) listed tests that pass now, so the list can shrink. Bounded: each run has a
 * timeout, the whole file 3 minutes at most; all three runs take about 40 s on an idle machine.
 *
 *   node --import tsx --test test/integration/iscsi-conformance.test.ts
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../helpers/services.js';
import { type TestProduct, addBody, api, missingTools, startTestProduct } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';

const skip = missingTools(['tgtd', 'tgtadm', 'iscsi-test-cu']);
const OCTET = 60;

interface Run {
  id: string;
  what: string;
  family: string;
  paths: 1 | 2;
  minTests: number;
  timeoutSeconds: number;
  expectedFailures: Record<string, string>;
}
const expectations = JSON.parse(readFileSync(join(REPO, 'test', 'conformance-expectations', 'iscsi-test-cu.json'), 'utf8')) as {
  runs: Run[];
};

interface CuResult {
  /** SUITE.TEST -> passed (a test with any failed assertion failed). */
  tests: Map<string, boolean>;
  /** SUITE.TEST -> the failed assertions, "file:line condition". */
  failures: Map<string, string[]>;
}

/** Parses CUnit's CUnitAutomated-Results.xml (what `iscsi-test-cu -x` writes in its working dir). */
function parseCunitResults(xml: string): CuResult {
  const tests = new Map<string, boolean>();
  const failures = new Map<string, string[]>();
  const field = (s: string, tag: string) => new RegExp(`<${tag}>\\s*([\\s\\S]*?)\\s*</${tag}>`).exec(s)?.[1] ?? '';
  for (const suite of xml.matchAll(/<CUNIT_RUN_SUITE>([\s\S]*?)<\/CUNIT_RUN_SUITE>/g)) {
    const body = suite[1] as string;
    const name = field(body, 'SUITE_NAME');
    for (const rec of body.matchAll(/<CUNIT_RUN_TEST_(SUCCESS|FAILURE)>([\s\S]*?)<\/CUNIT_RUN_TEST_\1>/g)) {
      const key = `${name}.${field(rec[2] as string, 'TEST_NAME')}`;
      if (rec[1] === 'SUCCESS') {
        if (!tests.has(key)) tests.set(key, true);
      } else {
        tests.set(key, false);
        const f = failures.get(key) ?? [];
        f.push(`${field(rec[2] as string, 'FILE_NAME')}:${field(rec[2] as string, 'LINE_NUMBER')} ${field(rec[2] as string, 'CONDITION')}`);
        failures.set(key, f);
      }
    }
  }
  return { tests, failures };
}

function iscsiTestCu(args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    execFile('iscsi-test-cu', args, { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout: String(stdout), timedOut: e?.killed === true });
    });
  });
}

describe('iSCSI conformance of a Portway disk (libiscsi iscsi-test-cu)', { skip, timeout: 180_000 }, () => {
  let tp: TestProduct;
  let urls: string[];
  const summary: string[] = [];

  before(async () => {
    tp = await startTestProduct(OCTET);
    // Two paths, one on each subnet: the second is what a multipath initiator would use.
    const r = await api(tp.product, 'POST', '/api/v1/disks', addBody('conformance', { sizeGb: 1, activePaths: 2, subnet: 3 }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.disk.placement, 'shared', 'a shared disk (the default): both paths in one tgtd');
    const id = r.json.disk.id as string;
    await waitFor(async () => ((await api(tp.product, 'GET', `/api/v1/disks/${id}`)).json.disk?.status === 'started' ? true : undefined), {
      what: 'disk started',
      timeoutMs: 30_000,
    });
    const paths = (await api(tp.product, 'GET', `/api/v1/disks/${id}/paths`)).json.paths as { ip: string }[];
    urls = paths.map((p) => `iscsi://${p.ip}/${r.json.disk.iqn}/1`);
  });
  after(async () => {
    for (const line of summary) process.stderr.write(`# ${line}\n`);
    await tp?.cleanup();
  });

  for (const runSpec of expectations.runs) {
    it(`${runSpec.id}: ${runSpec.what}`, async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'portway-cu-'));
      try {
        const t0 = Date.now();
        const res = await iscsiTestCu(['-d', '-x', '-t', runSpec.family, ...urls.slice(0, runSpec.paths)], cwd, runSpec.timeoutSeconds * 1000);
        const ms = Date.now() - t0;
        assert.equal(res.timedOut, false, `iscsi-test-cu ${runSpec.family} did not finish within ${runSpec.timeoutSeconds} s`);
        let xml: string;
        try {
          xml = readFileSync(join(cwd, 'CUnitAutomated-Results.xml'), 'utf8');
        } catch {
          throw new Error(`iscsi-test-cu wrote no results (exit ${res.code}): ${res.stdout.slice(0, 2000)}`);
        }
        const { tests, failures } = parseCunitResults(xml);
        const failed = [...tests].filter(([, ok]) => !ok).map(([k]) => k);
        const expected = new Set(Object.keys(runSpec.expectedFailures));
        const unexpected = failed.filter((k) => !expected.has(k));
        const nowPassing = [...expected].filter((k) => tests.get(k) === true);
        const notRun = [...expected].filter((k) => !tests.has(k));
        const skipped = (res.stdout.match(/\[SKIPPED\]/g) ?? []).length;
        summary.push(
          `iscsi-test-cu ${runSpec.id}: ${tests.size} tests in ${ms} ms, ${tests.size - failed.length} passed (incl. ${skipped} skip notices), ` +
            `${failed.length} failed: ${failed.length - unexpected.length} expected, ${unexpected.length} unexpected` +
            (nowPassing.length ? `; listed but passing now: ${nowPassing.join(', ')}` : '') +
            (notRun.length ? `; listed but not run: ${notRun.join(', ')}` : ''),
        );
        assert.ok(tests.size >= runSpec.minTests, `only ${tests.size} tests ran (at least ${runSpec.minTests} expected)`);
        assert.deepEqual(
          unexpected.map((k) => `${k}: ${(failures.get(k) ?? []).slice(0, 3).join('; ')}`),
          [],
          `failures not in test/conformance-expectations/iscsi-test-cu.json (${runSpec.id})`,
        );
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});

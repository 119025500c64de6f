/**
 * The API and web UI over HTTPS inside the namespaced cluster, as an admin meets them: 3 nodes brought
 * up with `portway cluster init` / `portway node join` (etcd with TLS, client certificates and
 * authentication), n1 running `portway serve` (README "Cluster install", step 5) on its management
 * address 10.99.0.11:8080 with the self-signed certificate it made at its first start. Every request
 * comes from the client namespace (10.99.0.250 on the management bridge) with curl or the CLI:
 * - the certificate is for the management IP (SAN), the one served is the one printed (fingerprint),
 *   and the CLI refuses a wrong pinned fingerprint and accepts the right one;
 * - curl without the certificate refuses the server (exit 60); plain HTTP gets no answer;
 * - the API says 401 before the login; the login works; a change without the CSRF token is 403;
 * - a disk added through the API reaches `started` and every path answers an iSCSI INQUIRY;
 * - the web UI's page loads over HTTPS (`npm run build:web` first).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/adapters/exec.js';
import { REPO, type SimCluster, waitUntil } from '../harness/cluster.js';
import { haCluster, haSkip } from '../harness/suite.js';

const skip = haSkip(['curl', 'openssl']);
const TTL = 10;

describe('the API and UI over HTTPS in the namespaced cluster', { skip, timeout: 400_000 }, () => {
  let c: SimCluster;
  let token: string;

  /** `portway <args>` from the client namespace (its own CLI config, no local product to trust). */
  const clientCli = async (args: string[]) => {
    const home = join(c.dir, 'client-home');
    mkdirSync(home, { recursive: true });
    try {
      const r = await run('ip', ['netns', 'exec', c.client, process.execPath, '--import', 'tsx', join(REPO, 'src/cli/portway.ts'), ...args], {
        env: { ...process.env, PORTWAY_CLI_CONFIG: join(home, 'cli.json'), PORTWAY_STATE_DIR: join(home, 'no-product'), PORTWAY_URL: '' },
        timeoutMs: 60_000,
      });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { exitCode?: number; stdout?: string; stderr?: string; message: string };
      return { code: x.exitCode ?? -1, out: x.stdout ?? '', err: x.stderr ?? x.message };
    }
  };

  before(async () => {
    assert.ok(existsSync(join(REPO, 'dist', 'web', 'index.html')), 'the web UI is built (npm run build:web)');
    c = await haCluster({ nodes: 3, leaseTtlSeconds: TTL, join: true, etcdTls: true, serveOn: 'n1' });
  });
  after(async () => {
    await c?.destroy();
  });

  it('the self-signed certificate was made at the first start, for the management IP, and is the one served', async () => {
    const t = c.serveTls;
    assert.equal(t.generated, true);
    assert.equal(t.certFile, join(c.node('n1').dir, 'tls', 'cert.pem'));
    const x = new X509Certificate(readFileSync(t.certFile));
    assert.match(x.subjectAltName ?? '', /IP Address:10\.99\.0\.11(,|$)/, x.subjectAltName);
    assert.equal(x.fingerprint256, t.fingerprint256, 'the printed fingerprint is the file');
    // What the server hands a client on the wire (openssl from the client namespace).
    const s = await run('ip', ['netns', 'exec', c.client, 'openssl', 's_client', '-connect', '10.99.0.11:8080', '-showcerts'], {
      input: '',
      timeoutMs: 20_000,
    });
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.stdout)?.[0];
    assert.ok(pem, s.stdout);
    assert.equal(new X509Certificate(pem).fingerprint256, t.fingerprint256, 'the printed fingerprint is the one served');
  });

  it('curl refuses the server without the certificate (exit 60); plain HTTP gets no answer', async () => {
    const untrusted = await c.clientCurl(['-o', '/dev/null', `${c.server.apiUrl}/api/v1/health`]);
    assert.equal(untrusted.code, 60, untrusted.stderr);
    const trusted = await c.clientCurl(['--cacert', c.serveTls.certFile, '-o', '/dev/null', '-w', '%{http_code}', `${c.server.apiUrl}/api/v1/health`]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(trusted.stdout, '200');
    // Plain HTTP to the HTTPS port: no HTTP answer at all (the TLS server drops it).
    const plain = await c.clientCurl(['-o', '/dev/null', '-w', '%{http_code}', 'http://10.99.0.11:8080/api/v1/health'], 15_000);
    assert.notEqual(plain.code, 0, `plain HTTP answered: ${plain.stdout}`);
    assert.equal(plain.stdout, '000');
    // And nothing listens for HTTP on its usual port.
    const port80 = await c.clientCurl(['-o', '/dev/null', 'http://10.99.0.11/api/v1/health'], 15_000);
    assert.equal(port80.code, 7, `connection refused on port 80: ${port80.stderr}`);
  });

  it('401 before the login; the login works; a change without the CSRF token is 403', async () => {
    const anon = await c.api('GET', '/api/v1/disks');
    assert.equal(anon.status, 401, anon.text);
    assert.equal(anon.json?.code, 'unauthenticated');
    const bad = await c.login('admin', 'Not-The-Password-1');
    assert.equal(bad.status, 401, bad.text);
    const ok = await c.login();
    assert.equal(ok.status, 200, ok.text);
    assert.ok(c.csrfToken, 'a CSRF token');
    assert.match(readFileSync(join(c.dir, 'client-cookies.txt'), 'utf8'), /portway_session/);
    const list = await c.api('GET', '/api/v1/disks');
    assert.equal(list.status, 200, list.text);
    const noCsrf = await c.api(
      'POST',
      '/api/v1/disks',
      { name: 'nocsrf', sizeGb: 1, activePaths: 1, subnet: 1, ipMode: 'auto', acl: { mode: 'all' }, auth: { mode: 'none' } },
      { csrf: false },
    );
    assert.equal(noCsrf.status, 403, noCsrf.text);
    assert.equal(noCsrf.json?.code, 'csrf_failed');
    const t = await c.api('POST', '/api/v1/auth/tokens', { name: 'client-cli' });
    assert.equal(t.status, 201, t.text);
    token = t.json.token;
  });

  it('the CLI refuses a wrong pinned fingerprint and works with the right one', async () => {
    const url = c.server.apiUrl;
    const unknown = await clientCli(['login', '--url', url, '--token', token]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /certificate is not trusted/);
    const wrong = await clientCli(['login', '--url', url, '--token', token, '--fingerprint', 'AB'.repeat(32)]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /fingerprint is .*, not the pinned AB:AB.*refusing to talk to it/);
    const pinned = await clientCli(['login', '--url', url, '--token', token, '--fingerprint', c.serveTls.fingerprint256]);
    assert.equal(pinned.code, 0, pinned.err);
    const list = await clientCli(['disk', 'list', '--json']);
    assert.equal(list.code, 0, list.err);
    assert.ok(Array.isArray(JSON.parse(list.out)));
  });

  it('a disk added through the API reaches started; every path answers INQUIRY from the client', async () => {
    const add = await c.api('POST', '/api/v1/disks', {
      name: 'https1',
      sizeGb: 1,
      activePaths: 3,
      subnet: 3,
      ipMode: 'auto',
      acl: { mode: 'all' },
      auth: { mode: 'none' },
      placement: 'spread',
    });
    assert.equal(add.status, 201, add.text);
    const disk = add.json.disk as { id: string; iqn: string };
    const t0 = Date.now();
    await waitUntil(
      `${disk.id} started (API)`,
      async () => {
        const r = await c.api('GET', `/api/v1/disks/${disk.id}`);
        return r.json?.disk?.status === 'started' || undefined;
      },
      90_000,
      250,
    );
    const startedMs = Date.now() - t0;
    const paths = (await c.api('GET', `/api/v1/disks/${disk.id}/paths`)).json.paths as { ip: string; node: string }[];
    assert.equal(paths.length, 3);
    for (const p of paths) assert.equal(await c.inquiry(p.ip, disk.iqn), `PW${disk.id}`, `path ${p.ip} on ${p.node}`);
    process.stderr.write(`# disk ${disk.id} started ${startedMs} ms after the API's 201; paths ${paths.map((p) => `${p.ip}@${p.node}`).join(' ')}\n`);
  });

  it('the web UI loads over HTTPS', async () => {
    const page = await c.clientCurl(['--cacert', c.serveTls.certFile, '-w', '\n%{http_code} %{content_type}', `${c.server.apiUrl}/`]);
    assert.equal(page.code, 0, page.stderr);
    assert.match(page.stdout, /<div id="root"><\/div>/);
    assert.match(page.stdout, /\n200 text\/html/);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(page.stdout)?.[1];
    assert.ok(asset, 'the page names its script');
    const js = await c.clientCurl(['--cacert', c.serveTls.certFile, '-o', '/dev/null', '-w', '%{http_code}', `${c.server.apiUrl}${asset}`]);
    assert.equal(js.stdout, '200');
    await c.assertNoIpOnTwoNodes();
  });
});

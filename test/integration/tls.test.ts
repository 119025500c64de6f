/**
 * HTTPS by default on the real `portway serve` (a child process, stopped by PID): the self-signed
 * certificate made at the first start (fingerprint printed, the same as openssl's), kept across
 * restarts; the admin's own certificate and key; a key that is not the certificate's refused with a
 * clear message; plain HTTP only with --plain-http. The CLI verifies the server: a pinned fingerprint,
 * a CA file, or the local product's own certificate; an unknown or mismatched certificate is refused
 * before the token is sent. Loopback octet 87.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecError, run } from '../../src/adapters/exec.js';
import { missingTools } from '../helpers/product.js';

const skip = missingTools(['openssl']);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'portway.ts');
const ADMIN_PW = 'Correct-Horse-42';

interface Served {
  child: ChildProcess;
  url: string;
  lines: string[];
}

/** Starts `portway serve` and resolves at PORTWAY_READY (or rejects with its output when it exits). */
function serve(dir: string, extra: string[] = []): Promise<Served> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', '--config', join(dir, 'settings.json'), '--state-dir', join(dir, 'state'), '--listen', '127.0.0.1:0', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORTWAY_ADMIN_PASSWORD: ADMIN_PW, LOG_LEVEL: 'warn' } },
  );
  const lines: string[] = [];
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not get ready in 30 s: ${lines.join('\n')} ${err}`)), 30_000);
    child.stderr?.on('data', (d) => {
      err += String(d);
    });
    child.stdout?.setEncoding('utf8');
    let buf = '';
    child.stdout?.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (line.includes('PORTWAY_READY')) {
          clearTimeout(timer);
          resolve({ child, url: JSON.parse(line).url, lines });
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${err.trim()}`));
    });
  });
}

async function stop(s: Served | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null || !s.child.pid) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  process.kill(s.child.pid, 'SIGTERM');
  await exited;
}

function httpsJson(url: string, ca: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const u = new URL(path, url);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<{ status: number; json: any; headers: Record<string, any> }>((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method, ca, headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          t += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: t ? JSON.parse(t) : {}, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function cli(args: string[], env: Record<string, string>) {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, PORTWAY_URL: '', ...env }, timeoutMs: 30_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    if (e instanceof ExecError) return { code: e.exitCode, out: e.stdout, err: e.stderr };
    throw e;
  }
}

describe('HTTPS by default, and a CLI that verifies the server', { skip }, () => {
  let dir: string;
  let s: Served | undefined;
  let token: string;
  let fp: string;
  let certFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tls-'));
    const o = 87;
    const settings = {
      node: 'node1',
      cluster: {
        iqnBase: 'iqn.2016-05.io.portway.test',
        pool: 'rbd',
        subnet1: { cidr: `127.${o}.1.0/24`, autoIpFrom: `127.${o}.1.10`, autoIpTo: `127.${o}.1.250`, eth: 'lo' },
        subnet2: { cidr: `127.${o}.2.0/24`, autoIpFrom: `127.${o}.2.10`, autoIpTo: `127.${o}.2.250`, eth: 'lo' },
      },
      agent: { enabled: false, leaseTtlSeconds: 6 },
    };
    writeFileSync(join(dir, 'settings.json'), JSON.stringify(settings));
  });
  after(async () => {
    await stop(s);
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a self-signed certificate at the first start and prints its fingerprint (the same as openssl prints)', async () => {
    s = await serve(dir);
    assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const line = s.lines.find((l) => l.startsWith('PORTWAY_TLS_CERT '));
    assert.ok(line, s.lines.join('\n'));
    const m = /^PORTWAY_TLS_CERT made \(self-signed\) (\S+) sha256=(\S+) spki-sha256=(\S+)$/.exec(line);
    assert.ok(m, line);
    certFile = m[1] as string;
    fp = m[2] as string;
    assert.equal(certFile, join(dir, 'state', 'tls', 'cert.pem'));
    const ossl = await run('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256']);
    assert.equal(ossl.stdout.trim().split('=')[1], fp);
    const key = await run('stat', ['-c', '%a', join(dir, 'state', 'tls', 'key.pem')]);
    assert.equal(key.stdout.trim(), '600', 'the private key is readable by its owner only');
    await assert.rejects(fetch(`${s.url}/api/v1/health`), 'a client that trusts only the system CAs refuses it');
    const health = await httpsJson(s.url, readFileSync(certFile, 'utf8'), 'GET', '/api/v1/health');
    assert.equal(health.status, 200);

    // a token for the CLI, over https (the session cookie is Secure)
    const ca = readFileSync(certFile, 'utf8');
    const login = await httpsJson(s.url, ca, 'POST', '/api/v1/auth/login', { username: 'admin', password: ADMIN_PW });
    assert.equal(login.status, 200);
    const setCookie = (login.headers['set-cookie'] as string[]).find((c) => c.startsWith('portway_session='));
    assert.match(setCookie ?? '', /; Secure/);
    const t = await httpsJson(
      s.url,
      ca,
      'POST',
      '/api/v1/auth/tokens',
      { name: 'cli' },
      { cookie: (setCookie as string).split(';')[0] as string, 'x-csrf-token': login.json.csrfToken },
    );
    assert.equal(t.status, 201, JSON.stringify(t.json));
    token = t.json.token;
  });

  it('the CLI: a pinned fingerprint or a CA file works; an unknown or wrong certificate is refused', async () => {
    assert.ok(s);
    const home = join(dir, 'home');
    const env = { PORTWAY_CLI_CONFIG: join(home, 'cli.json'), PORTWAY_STATE_DIR: join(dir, 'nowhere') };
    const untrusted = await cli(['login', '--url', s.url, '--token', token], env);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.err, /certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): pass --ca FILE .* or --fingerprint SHA256/);

    const wrong = await cli(['login', '--url', s.url, '--token', token, '--fingerprint', 'AB'.repeat(32)], env);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /fingerprint is .*, not the pinned AB:AB.*refusing to talk to it/);
    const bad = await cli(['login', '--url', s.url, '--token', token, '--fingerprint', 'xyz'], env);
    assert.match(bad.err, /the fingerprint must be the 64 hex digits/);

    const pinned = await cli(['login', '--url', s.url, '--token', token, '--fingerprint', fp.replace(/:/g, '').toLowerCase()], env);
    assert.equal(pinned.code, 0, pinned.err);
    const list = await cli(['disk', 'list', '--json'], env);
    assert.equal(list.code, 0, list.err);
    assert.deepEqual(JSON.parse(list.out), []);

    const withCa = await cli(['disk', 'list', '--json', '--url', s.url, '--token', token], {
      PORTWAY_CLI_CONFIG: join(home, 'none.json'),
      PORTWAY_CA: certFile,
    });
    assert.equal(withCa.code, 0, withCa.err);
    const local = await cli(['disk', 'list', '--json', '--url', s.url, '--token', token], {
      PORTWAY_CLI_CONFIG: join(home, 'none.json'),
      PORTWAY_STATE_DIR: join(dir, 'state'),
    });
    assert.equal(local.code, 0, `the local product's own certificate is trusted on its machine: ${local.err}`);
  });

  it('keeps the certificate across restarts; the admin own certificate and key; a wrong key is refused; --plain-http', async () => {
    await stop(s);
    s = await serve(dir);
    const again = s.lines.find((l) => l.startsWith('PORTWAY_TLS_CERT '));
    assert.match(again ?? '', new RegExp(`^PORTWAY_TLS_CERT loaded \\S+ sha256=${fp} `));
    await stop(s);

    const own = join(dir, 'own');
    const mk = (name: string) =>
      run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${own}-${name}.key`,
        '-out',
        `${own}-${name}.pem`,
        '-days',
        '2',
        '-subj',
        '/CN=portway-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]);
    await mk('a');
    await mk('b');
    s = await serve(dir, ['--tls-cert', `${own}-a.pem`, '--tls-key', `${own}-a.key`]);
    const ownFp = (await run('openssl', ['x509', '-in', `${own}-a.pem`, '-noout', '-fingerprint', '-sha256'])).stdout.trim().split('=')[1];
    assert.match(s.lines.find((l) => l.startsWith('PORTWAY_TLS_CERT ')) ?? '', new RegExp(`^PORTWAY_TLS_CERT loaded ${own}-a.pem sha256=${ownFp} `));
    assert.equal((await httpsJson(s.url, readFileSync(`${own}-a.pem`, 'utf8'), 'GET', '/api/v1/health')).status, 200);
    await stop(s);

    await assert.rejects(
      serve(dir, ['--tls-cert', `${own}-a.pem`, '--tls-key', `${own}-b.key`]),
      /serve exited 1: portway: the TLS key .* does not belong to the certificate/,
    );
    await assert.rejects(serve(dir, ['--tls-cert', `${own}-a.pem`]), /tls.cert and tls.key go together/);

    s = await serve(dir, ['--plain-http']);
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(
      s.lines.some((l) => l.startsWith('PORTWAY_TLS_CERT')),
      false,
    );
    assert.equal((await fetch(`${s.url}/api/v1/health`)).status, 200);
  });
});

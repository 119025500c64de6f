/**
 * The coordination store over etcd with TLS (client certificates) and etcd authentication
 * (user/password), as a node file sets them (coord.ca / cert / key / username / passwordFile): a real
 * etcd started by scripts/etcd-start.sh with ETCD_TLS=1 and ETCD_ROOT_PASSWORD. Reads, writes, leases
 * and watches work; without the client certificate, with a wrong password or without a user, etcd
 * refuses; the settings' mistakes get clear messages.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCoordStore } from '../../src/app/assemble.js';
import { type EtcdSettings, type Settings, SettingsError, checkSettings, defaultSettings } from '../../src/app/settings.js';
import { type EtcdCluster, etcdAvailable, requireService, startEtcd } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const ROOT_PW = 'Etcd-Root-Secret-9';

describe('etcd over TLS with client certificates and authentication', requireService('etcd', etcdAvailable(), 'apt-get install etcd-server'), () => {
  let etcd: EtcdCluster;
  let dir: string;
  let coord: EtcdSettings;
  const settings = (c: EtcdSettings): Settings => checkSettings({ ...defaultSettings(), stateDir: dir, coord: c });

  before(async () => {
    etcd = await startEtcd({ tls: true, rootPassword: ROOT_PW });
    dir = mkdtempSync(join(tmpdir(), 'pw-etcd-tls-'));
    writeFileSync(join(dir, 'etcd-password'), `${ROOT_PW}\n`, { mode: 0o600 });
    const tls = etcd.tls;
    assert.ok(tls, 'etcd-start.sh printed the TLS files');
    coord = { kind: 'etcd', endpoints: etcd.endpoints, ca: tls.ca, cert: tls.cert, key: tls.key, username: 'root', passwordFile: join(dir, 'etcd-password') };
  });
  after(async () => {
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads, writes, leases and watches with the node file credentials', async () => {
    assert.match(etcd.endpoints[0] as string, /^https:\/\/127\.0\.0\.1:\d+$/);
    const store = await openCoordStore(settings(coord));
    try {
      const seen: string[] = [];
      const w = await store.watch('/portway/tls-test/', (e) => void seen.push(`${e.type}:${e.key}`));
      await store.put('/portway/tls-test/a', '1');
      assert.equal((await store.get('/portway/tls-test/a'))?.value, '1');
      const lease = await store.grantLease(5);
      await store.put('/portway/tls-test/b', '2', { lease: lease.id });
      await waitFor(async () => (seen.length >= 2 ? true : undefined), { what: 'watch events over TLS' });
      assert.deepEqual(seen.slice(0, 2), ['put:/portway/tls-test/a', 'put:/portway/tls-test/b']);
      await lease.revoke();
      await w.close();
    } finally {
      await store.close();
    }
  });

  it('etcd refuses a client without its certificate, with a wrong password, or without a user', async () => {
    const attempt = async (c: EtcdSettings) => {
      const store = await openCoordStore(settings(c));
      try {
        await store.get('/portway/tls-test/a');
        return 'answered';
      } catch (e) {
        return (e as Error).message;
      } finally {
        await store.close().catch(() => undefined);
      }
    };
    const { cert: _c, key: _k, ...noClientCert } = coord;
    assert.notEqual(await attempt(noClientCert), 'answered', 'no client certificate');
    const wrongPw = join(dir, 'wrong');
    writeFileSync(wrongPw, 'not-the-password\n');
    assert.notEqual(await attempt({ ...coord, passwordFile: wrongPw }), 'answered', 'a wrong password');
    const { username: _u, passwordFile: _p, ...noUser } = coord;
    assert.notEqual(await attempt(noUser), 'answered', 'no etcd user (the client certificate alone names no etcd user)');
  });

  it('clear messages for settings that cannot work', async () => {
    const bad = (c: Partial<EtcdSettings>, re: RegExp) =>
      assert.throws(
        () => settings({ ...coord, ...c } as EtcdSettings),
        (e: Error) => e instanceof SettingsError && re.test(e.message),
      );
    bad({ ca: undefined }, /coord.ca .* is needed for https:\/\/ endpoints/);
    bad({ endpoints: ['http://127.0.0.1:2379'] }, /the endpoints must be https:\/\//);
    bad({ endpoints: ['127.0.0.1:2379'] }, /not an etcd client URL/);
    bad({ key: undefined }, /coord.cert and coord.key .* go together/);
    bad({ password: 'x' }, /exclude each other/);
    bad({ username: undefined }, /coord.password needs coord.username/);
    await assert.rejects(openCoordStore(settings({ ...coord, passwordFile: join(dir, 'missing') })), /cannot read coord.passwordFile/);
  });
});

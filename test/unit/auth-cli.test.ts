/** `portway user add|passwd|list` over a real persisted embedded store. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { userCommand } from '../../src/cli/user-command.js';
import { AuthService } from '../../src/services/auth-service.js';

describe('portway user', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-usercli-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (args: string[], stdin = '') => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c) => {
      text += String(c);
    });
    await userCommand([...args, '--state-dir', dir], { stdin: Readable.from([stdin]), stdout: out });
    return text;
  };
  const withStore = async <T>(fn: (auth: AuthService, store: EmbeddedStore) => Promise<T>): Promise<T> => {
    const store = new EmbeddedStore({ dir: join(dir, 'coord') });
    try {
      return await fn(new AuthService({ store, log: pino({ level: 'silent' }), sessionIdleMs: 60_000 }), store);
    } finally {
      await store.close();
    }
  };

  it('adds a user with the password from stdin (one trailing newline dropped)', async () => {
    assert.match(await run(['add', 'ops1', '--role', 'operator', '--password-stdin'], 'Ops-Pass-4242\n'), /added user ops1 \(role operator\)/);
    await withStore(async (auth, store) => {
      const r = await auth.login('ops1', 'Ops-Pass-4242');
      assert.ok(r.ok);
      assert.equal(r.principal.role, 'operator');
      assert.equal(JSON.stringify(await store.list('/portway/')).includes('Ops-Pass-4242'), false);
      const audit = await auth.listAudit(10);
      assert.ok(audit.ok && audit.entries.some((e) => e.action === 'user.create' && e.target === 'user:ops1' && e.via === 'cli'));
    });
    assert.match(await run(['list']), /^ops1\toperator\t/m);
  });

  it('sets a password (recovery of a lost admin password)', async () => {
    assert.match(await run(['passwd', 'ops1', '--password-stdin'], 'New-Ops-Pass-7'), /password of ops1 set/);
    await withStore(async (auth) => {
      assert.ok(!(await auth.login('ops1', 'Ops-Pass-4242')).ok);
      assert.ok((await auth.login('ops1', 'New-Ops-Pass-7')).ok);
    });
  });

  it('refuses bad input with clear messages', async () => {
    await assert.rejects(run(['add', 'ops2', '--password-stdin'], 'Ops-Pass-4242'), /needs --role/);
    await assert.rejects(run(['add', 'ops2', '--role', 'viewer']), /--password-stdin/);
    await assert.rejects(run(['add', 'Bad Name', '--role', 'viewer', '--password-stdin'], 'Ops-Pass-4242'), /username is 2-32 characters.*invalid_username/);
    await assert.rejects(run(['add', 'ops2', '--role', 'viewer', '--password-stdin'], 'short'), /at least 10 characters.*invalid_password/);
    await assert.rejects(run(['add', 'ops2', '--role', 'wizard', '--password-stdin'], 'Ops-Pass-4242'), /No role named "wizard"/);
    await assert.rejects(run(['add', 'ops1', '--role', 'viewer', '--password-stdin'], 'Ops-Pass-4242'), /already exists.*user_exists/);
    await assert.rejects(run(['frobnicate']), /unknown user command/);
  });

  it('says to stop the server when the embedded store is in use', async () => {
    const held = new EmbeddedStore({ dir: join(dir, 'coord') });
    try {
      await assert.rejects(run(['list']), /in use by process \d+.*stop portway serve/);
    } finally {
      await held.close();
    }
  });
});

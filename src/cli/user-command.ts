/**
 * portway user add|passwd|list: users straight in the coordination store, without the API (the first
 * admin by hand, or a lost admin password). On a single box the embedded store allows one opener, so
 * stop `portway serve` first; in a cluster (etcd) it works while the servers run.
 */
import { userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CoordError } from '../adapters/coord/types.js';
import { createLogger } from '../app/logging.js';
import { openStores } from '../app/assemble.js';
import { authService } from '../app/product.js';
import { checkSettings, loadSettings } from '../app/settings.js';
import type { Actor } from '../services/auth-service.js';

export const USER_USAGE = `  portway user add NAME --role ROLE --password-stdin [--config FILE] [--state-dir DIR]
                 add a user; the password is read from stdin (printf %s "$PW" | portway user add ...)
  portway user passwd NAME --password-stdin [--config FILE] [--state-dir DIR]   set a user's password
  portway user list [--config FILE] [--state-dir DIR]`;

const OPTIONS = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  role: { type: 'string' },
  'password-stdin': { type: 'boolean' },
} as const;

export class UserCommandError extends Error {}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export async function userCommand(argv: string[], io: { stdin?: Readable; stdout?: Writable } = {}): Promise<void> {
  const stdin = io.stdin ?? process.stdin;
  const stdout = io.stdout ?? process.stdout;
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [sub, name, ...extra] = positionals;
  const usage = (why: string) => new UserCommandError(`${why}\nusage:\n${USER_USAGE}`);
  if (sub !== 'add' && sub !== 'passwd' && sub !== 'list') throw usage(sub ? `unknown user command "${sub}"` : 'which user command?');
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}"`);
  if (sub !== 'list' && !name) throw usage(`portway user ${sub} needs a user name`);
  if (sub === 'add' && !values.role) throw usage('portway user add needs --role (admin, operator, viewer, or a role made in the API)');
  let password: string | undefined;
  if (sub !== 'list') {
    if (!values['password-stdin']) throw usage('give the password on stdin with --password-stdin');
    password = await readAll(stdin);
  }

  const s = await loadSettings(values.config);
  if (values['state-dir']) s.stateDir = values['state-dir'];
  checkSettings(s);
  const log = createLogger({ defaultLevel: 'warn' });
  let store: Awaited<ReturnType<typeof openStores>>['store'];
  try {
    ({ store } = await openStores(s));
  } catch (e) {
    if (e instanceof CoordError && e.code === 'unavailable')
      throw new UserCommandError(`${e.message} (stop portway serve on this box first, or use the API: POST /api/v1/users)`);
    throw e;
  }
  try {
    const auth = authService(s, store, log);
    const actor: Actor = { user: `cli:${userInfo().username}`, via: 'cli' };
    if (sub === 'list') {
      const r = await auth.listUsers();
      if (!r.ok) throw new UserCommandError(r.message);
      for (const u of r.users) stdout.write(`${u.name}\t${u.role}\t${u.createdAt}\n`);
      return;
    }
    if (sub === 'add') {
      const r = await auth.createUser({ name, password, role: values.role });
      await auth.appendAudit(actor, 'user.create', `user:${name}`, r.ok ? 'ok' : 'failed', r.ok ? { role: r.user.role } : { code: r.code });
      if (!r.ok) throw new UserCommandError(`${r.message} (${r.code})`);
      stdout.write(`added user ${r.user.name} (role ${r.user.role})\n`);
      return;
    }
    const r = await auth.updateUser(name as string, { password });
    await auth.appendAudit(actor, 'user.update', `user:${name}`, r.ok ? 'ok' : 'failed', r.ok ? { changed: ['password'] } : { code: r.code });
    if (!r.ok) throw new UserCommandError(`${r.message} (${r.code})`);
    stdout.write(`password of ${name} set; their sessions were logged out\n`);
  } finally {
    await store.close();
  }
}

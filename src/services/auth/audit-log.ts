/** The audit log: one key per entry under /portway/audit/, ids sortable by time, oldest pruned. */
import { randomBytes } from 'node:crypto';
import type { AuditPage } from '../../api/wire.js';
import {
  AUDIT,
  AUDIT_ID_RE,
  type AuditEntry,
  type AuditOutcome,
  type Via,
  auditId,
  auditMatches,
  auditPage,
  checkAuditQuery,
  scrubDetails,
} from '../../domain/auth.js';
import { errText } from '../../util/errors.js';
import { fail } from '../../domain/outcomes.js';
import { readRecord, recordJson } from '../../domain/records.js';
import type { AuthContext, Result } from './common.js';

/** Who did something, for the audit log. */
export interface Actor {
  user: string;
  via: Via;
  ip?: string;
}

export class AuditLog {
  private seq = 0;
  private appendsSincePrune = 0;

  constructor(
    private readonly ctx: AuthContext,
    /** Oldest entries beyond this many are pruned. */
    private readonly maxEntries = 10_000,
  ) {}

  /** Appends an audit entry; never throws (a failure is logged). Details are scrubbed of secrets. */
  async append(actor: Actor, action: string, target: string, outcome: AuditOutcome, details: Record<string, unknown> = {}): Promise<void> {
    const now = this.ctx.now();
    const entry: AuditEntry = {
      time: new Date(now).toISOString(),
      actor: actor.user,
      via: actor.via,
      action,
      target,
      outcome,
      ...(actor.ip ? { ip: actor.ip } : {}),
      details: scrubDetails(details) as Record<string, unknown>,
    };
    const id = auditId(now, this.seq++, randomBytes(4).toString('hex'));
    try {
      await this.ctx.store.put(`${AUDIT}${id}`, recordJson('audit', entry));
      if (++this.appendsSincePrune >= 100) {
        this.appendsSincePrune = 0;
        await this.prune();
      }
    } catch (e) {
      this.ctx.log.error({ err: errText(e), action, target, outcome }, 'audit entry could not be written');
    }
  }

  /** Deletes the oldest audit entries beyond maxEntries. */
  async prune(): Promise<number> {
    const kvs = await this.ctx.store.list(AUDIT);
    const drop = kvs.slice(0, Math.max(0, kvs.length - this.maxEntries));
    for (let i = 0; i < drop.length; i += 64)
      await this.ctx.store.txn(
        [],
        drop.slice(i, i + 64).map((kv) => ({ type: 'delete' as const, key: kv.key })),
      );
    return drop.length;
  }

  /**
   * Audit entries newest first; `before` is the id of the last entry of the previous page; `q` keeps
   * only the entries that contain it (any field, details too: a disk's name or id), case-insensitive.
   */
  async list(limit: number, before?: string, q?: string): Promise<Result<AuditPage>> {
    if (before !== undefined && !AUDIT_ID_RE.test(before)) return fail('invalid_request', 'before must be the id of an audit entry.', 'before');
    const query = checkAuditQuery(q);
    if (typeof query !== 'string') return query;
    return this.ctx.guard('listAudit', async () => {
      const byId = new Map<string, string>();
      for (const kv of await this.ctx.store.list(AUDIT)) {
        const id = kv.key.slice(AUDIT.length);
        if (AUDIT_ID_RE.test(id)) byId.set(id, kv.value);
      }
      const read = (id: string) => {
        const rec = readRecord('audit', byId.get(id));
        return rec ? { id, ...(rec as unknown as AuditEntry) } : undefined; // undefined: not ours
      };
      let ids = [...byId.keys()];
      const cache = new Map<string, AuditPage['entries'][number]>();
      if (query !== '') {
        ids = ids.filter((id) => {
          const e = read(id);
          if (!e || !auditMatches(e, query)) return false;
          cache.set(id, e);
          return true;
        });
      }
      const page = auditPage(ids, limit, before);
      const entries: AuditPage['entries'] = [];
      for (const id of page.ids) {
        const e = cache.get(id) ?? read(id);
        if (e) entries.push(e);
      }
      return { ok: true, entries, next: page.next };
    });
  }

  /** Every entry (newest first) that contains `q` (all when empty): for an export. */
  async all(q?: string): Promise<Result<{ entries: AuditPage['entries'] }>> {
    const r = await this.list(this.maxEntries + 1000, undefined, q);
    return r.ok ? { ok: true, entries: r.entries } : r;
  }
}

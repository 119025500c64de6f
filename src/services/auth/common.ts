/** What the auth modules share: the store context, the result type, record parsing. */
import type { Logger } from 'pino';
import type { CoordStore, KeyValue } from '../../adapters/coord/types.js';
import { type Failure, fail } from '../../domain/outcomes.js';
import { type RecordKind, readRecord } from '../../domain/records.js';
import { errText } from '../../util/errors.js';

export type Result<T> = ({ ok: true } & T) | Failure;

const unavailable = (): Failure => fail('coordination_error', 'The user store cannot be reached right now (coordination store unavailable); try again.');

/** A stored auth record of `kind`, at its current schema version (records.ts); undefined when unreadable. */
export function parse<T>(kv: KeyValue | undefined, kind: RecordKind): T | undefined {
  return kv ? (readRecord(kind, kv.value) as T | undefined) : undefined;
}

/** The store, log and clock every auth module works with. */
export class AuthContext {
  readonly now: () => number;

  constructor(
    readonly store: CoordStore,
    readonly log: Logger,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  iso(): string {
    return new Date(this.now()).toISOString();
  }

  /** Runs fn; a store failure becomes coordination_error instead of an exception. */
  async guard<T>(what: string, fn: () => Promise<Result<T>>): Promise<Result<T>> {
    try {
      return await fn();
    } catch (e) {
      this.log.error({ err: errText(e), op: what }, 'auth store operation failed');
      return unavailable();
    }
  }
}

/** What the auth modules share: the store context, the result type and its failures, record parsing. */
import type { Logger } from 'pino';
import type { CoordStore, KeyValue } from '../../adapters/coord/types.js';
import { errText } from '../../util/errors.js';

export interface ServiceFailure {
  ok: false;
  status: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export type Result<T> = ({ ok: true } & T) | ServiceFailure;

export const failure = (status: number, code: string, message: string, details: Record<string, unknown> = {}): ServiceFailure => ({
  ok: false,
  status,
  code,
  message,
  details,
});

export const invalid = (f: { code: string; message: string; field: string }): ServiceFailure => failure(400, f.code, f.message, { field: f.field });

const unavailable = (): ServiceFailure =>
  failure(503, 'coordination_error', 'The user store cannot be reached right now (coordination store unavailable); try again.');

export function parse<T>(kv: KeyValue | undefined): T | undefined {
  if (!kv) return undefined;
  try {
    return JSON.parse(kv.value) as T;
  } catch {
    return undefined;
  }
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

/**
 * The coordination store: a small key-value store with etcd's semantics.
 * Two implementations: the embedded store (single box, persisted to a local file)
 * and etcd (cluster). Both pass test/conformance/coord-store.suite.ts.
 */

import type { EtcdMemberStatus } from '../../domain/infra-health.js';

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the store at which this key was created. */
  createRevision: number;
  /** Revision of the store at which this key was last modified. */
  modRevision: number;
  /** Lease the key is attached to, if any (decimal string). */
  lease?: string;
}

/** A condition of a transaction: the key's modRevision must equal this (0 = key absent). */
export interface Compare {
  key: string;
  modRevision: number;
}

export type TxnOp = { type: 'put'; key: string; value: string; lease?: string } | { type: 'delete'; key: string } | { type: 'deletePrefix'; prefix: string };

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value for put; absent for delete. */
  value?: string;
  modRevision: number;
}

export interface Watch {
  close(): Promise<void>;
}

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Renews the lease once. Rejects with CoordError('lease_lost') when the lease no longer exists. */
  keepAliveOnce(): Promise<void>;
  /** Revokes the lease; every key attached to it is deleted. */
  revoke(): Promise<void>;
}

export interface LeaseInfo {
  /** The TTL the lease was granted with (etcd may have raised it to its minimum). */
  ttlSeconds: number;
  /** Seconds left until it expires unless renewed. */
  remainingSeconds: number;
}

export interface CoordStore {
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key starting with prefix, sorted by key. */
  list(prefix: string): Promise<KeyValue[]>;
  put(key: string, value: string, opts?: { lease?: string }): Promise<void>;
  delete(key: string): Promise<boolean>;
  deletePrefix(prefix: string): Promise<number>;
  /** Applies every op atomically when every compare holds; returns whether it did. */
  txn(compares: Compare[], ops: TxnOp[]): Promise<boolean>;
  grantLease(ttlSeconds: number): Promise<Lease>;
  /**
   * A lease's granted TTL and the seconds left before it expires (as the store counts them), or
   * undefined when no such lease exists (expired, revoked, never granted).
   */
  leaseInfo(id: string): Promise<LeaseInfo | undefined>;
  /**
   * Calls onEvent for every change under prefix after the call returns, in revision order.
   * onReset is called when events may have been missed (reconnect); the caller re-reads state.
   */
  watch(prefix: string, onEvent: (ev: WatchEvent) => void, onReset?: () => void): Promise<Watch>;
  close(): Promise<void>;
  /** etcd: each configured member's answer to a status request (the events' `etcd_member_down`). The embedded store has no members. */
  memberStatus?(): Promise<EtcdMemberStatus[]>;
}

export type CoordErrorCode = 'unavailable' | 'lease_lost' | 'timeout' | 'closed';

export class CoordError extends Error {
  constructor(
    readonly code: CoordErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CoordError';
  }
}

/** Create-if-absent for several keys at once: all are created or none. */
export function createAllIfAbsent(store: CoordStore, kvs: { key: string; value: string; lease?: string }[]): Promise<boolean> {
  return store.txn(
    kvs.map((kv) => ({ key: kv.key, modRevision: 0 })),
    kvs.map((kv) => ({ type: 'put', key: kv.key, value: kv.value, lease: kv.lease })),
  );
}

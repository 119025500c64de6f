/**
 * Moving a node's keys from one lease to another (a live change of the lease TTL, docs/HA.md "Changing
 * the lease TTL (live)"). Pure: the agent reads the keys, this plans the transactions, the agent runs
 * them and renews both leases meanwhile.
 *
 * Each batch is one transaction of at most MAX_KEYS_PER_TXN keys (etcd refuses transactions of more
 * than 128 operations by default): every key is put again, with the same value (the node record with
 * the one given), under the new lease, and only if its mod revision is still the one read. A key
 * changed meanwhile (another writer, or a lease that expired and took it) fails its batch; the agent
 * then tries that batch's keys one by one, and whatever is still on the old lease is moved at the
 * next attempt. So a key is never overwritten with a stale value, and every key always lives on one
 * of the two leases: the old one is revoked only once `remainingOnLease` finds nothing on it.
 */

/** etcd's default --max-txn-ops is 128: 64 compares and 64 puts per transaction stay well inside it. */
export const MAX_KEYS_PER_TXN = 64;

/** A key as the store lists it (the fields the plan needs). */
export interface LeasedKv {
  key: string;
  value: string;
  modRevision: number;
  lease?: string;
}

export interface LeaseMoveBatch {
  /** Each key's mod revision as read: the batch applies only if none changed. */
  compares: { key: string; modRevision: number }[];
  /** Each key put again under the new lease. */
  puts: { type: 'put'; key: string; value: string; lease: string }[];
}

export interface LeaseMovePlan {
  batches: LeaseMoveBatch[];
  /** Keys on the old lease the plan moves (the node record first). */
  keys: string[];
}

export interface LeaseMoveInput {
  /** The keys read (any lease: only those on `from` are moved). */
  kvs: readonly LeasedKv[];
  from: string;
  to: string;
  /** Keys rewritten with a new value as they move (the node record, with its current settings version). */
  rewrite?: ReadonlyMap<string, string>;
  /** Keys per transaction (default and maximum MAX_KEYS_PER_TXN). */
  batchSize?: number;
}

/** The transactions that move every key on lease `from` to lease `to`, at most batchSize keys each. */
export function planLeaseMove(i: LeaseMoveInput): LeaseMovePlan {
  if (i.from === i.to) throw new RangeError('moving keys to the lease they are on');
  const size = Math.min(MAX_KEYS_PER_TXN, Math.max(1, Math.floor(i.batchSize ?? MAX_KEYS_PER_TXN)));
  const seen = new Set<string>();
  const onOld = i.kvs.filter((kv) => {
    if (kv.lease !== i.from || seen.has(kv.key)) return false;
    seen.add(kv.key);
    return true;
  });
  // Rewritten keys first (the node record: "this node is up" moves before anything it holds), then by key.
  const rewritten = (kv: LeasedKv) => (i.rewrite?.has(kv.key) ? 0 : 1);
  onOld.sort((a, b) => rewritten(a) - rewritten(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const batches: LeaseMoveBatch[] = [];
  for (let k = 0; k < onOld.length; k += size) {
    const chunk = onOld.slice(k, k + size);
    batches.push({
      compares: chunk.map((kv) => ({ key: kv.key, modRevision: kv.modRevision })),
      puts: chunk.map((kv) => ({ type: 'put' as const, key: kv.key, value: i.rewrite?.get(kv.key) ?? kv.value, lease: i.to })),
    });
  }
  return { batches, keys: onOld.map((kv) => kv.key) };
}

/** A failed batch split into one transaction per key (each still guarded by its own mod revision). */
export function splitBatch(b: LeaseMoveBatch): LeaseMoveBatch[] {
  return b.compares.map((c, n) => ({ compares: [c], puts: [b.puts[n] as LeaseMoveBatch['puts'][number]] }));
}

/** Keys still on lease `id`: the old lease may be revoked only when there are none. */
export function remainingOnLease(kvs: readonly LeasedKv[], id: string): string[] {
  return kvs.filter((kv) => kv.lease === id).map((kv) => kv.key);
}

/**
 * The lease TTL the agent should hold: the cluster settings' (when they name a valid one), else the one
 * it holds. undefined: no change.
 */
export function leaseTtlChange(held: number, wanted: number | undefined): number | undefined {
  if (wanted === undefined || !Number.isInteger(wanted) || wanted < 1 || wanted === held) return undefined;
  return wanted;
}

/**
 * The fence deadline while keys may be on either of two leases: the earlier of the two (each lease's
 * last successful renewal's send plus its fence time). Either lease expiring frees the keys on it, so
 * the node must have stopped serving before the first of them can.
 */
export function earliestDeadline(leases: readonly { lastRenewSentOk: number; fenceAfterMs: number }[]): number {
  let d = Number.POSITIVE_INFINITY;
  for (const l of leases) d = Math.min(d, l.lastRenewSentOk + l.fenceAfterMs);
  return d;
}

/**
 * Everything the store says about the cluster's disks, paths, owners, nodes, moves and drains, read
 * from one list of keys. Pure: the agent and the path service both build it from what they listed.
 */
import { type DiskState, type MoveIntent, type NodeRecord, asMoveIntent, assembleDisks, parseKey } from './keys.js';
import { readRecord } from './records.js';

/** A stored key as read (the coordination store's KeyValue has these fields and more). */
export interface StoredKv {
  key: string;
  value: string;
  modRevision: number;
  /** The lease the key is under (decimal), if any. */
  lease?: string;
}

export interface ClusterView<K extends StoredKv = StoredKv> {
  disks: Map<string, DiskState>;
  /** ownerKey -> its key-value (for conditional writes). */
  owners: Map<string, K>;
  /** `${id}/${n}` -> a move intent of path n of disk id. */
  intents: Map<string, { kv: K; intent: MoveIntent }>;
  /** disk id -> its SERVED marker. */
  served: Map<string, K>;
  /** disk id -> the revision of its record (changes with every edit: the agent re-reads the image's metadata then). */
  diskRevs: Map<string, number>;
  /** Nodes whose agent holds its lease (their node key exists). */
  nodes: Map<string, NodeRecord>;
  /** Nodes that take no paths (a drain key, or a node record that says so). */
  drained: Set<string>;
}

export function clusterView<K extends StoredKv>(kvs: readonly K[]): ClusterView<K> {
  const v: ClusterView<K> = {
    disks: assembleDisks(kvs),
    owners: new Map(),
    intents: new Map(),
    served: new Map(),
    diskRevs: new Map(),
    nodes: new Map(),
    drained: new Set(),
  };
  for (const kv of kvs) {
    const k = parseKey(kv.key);
    try {
      if (k.kind === 'node') {
        const rec = readRecord('node', kv.value) as NodeRecord | undefined;
        if (rec === undefined) continue;
        v.nodes.set(k.name, { ...rec, name: k.name });
        if (rec.drained) v.drained.add(k.name);
      } else if (k.kind === 'drained') v.drained.add(k.name);
      else if (k.kind === 'owner') v.owners.set(kv.key, kv);
      else if (k.kind === 'served') v.served.set(k.id, kv);
      else if (k.kind === 'disk') v.diskRevs.set(k.id, kv.modRevision);
      else if (k.kind === 'move') {
        const intent = asMoveIntent(readRecord('move', kv.value));
        if (intent) v.intents.set(`${k.id}/${k.index}`, { kv, intent });
      }
    } catch {
      // A value that is not JSON is not ours: skip it rather than fail the whole view.
    }
  }
  return v;
}

/** Live nodes that may take paths (not drained), sorted by name. */
export function eligibleNodes(v: ClusterView): string[] {
  return [...v.nodes.keys()].filter((n) => !v.drained.has(n)).sort();
}

/** An intent is acted on while its target is a live node that may take paths. */
export function intentActive(v: ClusterView, i: MoveIntent | undefined): i is MoveIntent {
  return i !== undefined && v.nodes.has(i.to) && !v.drained.has(i.to);
}

/** The node an owner key's value names (undefined if it is not an owner record). */
export function ownerNodeOf(value: string): string | undefined {
  try {
    const node = (JSON.parse(value) as { node?: unknown } | null)?.node;
    return typeof node === 'string' ? node : undefined;
  } catch {
    return undefined;
  }
}

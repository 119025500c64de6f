/**
 * Cluster membership as the agent sees it. A cluster built with `portway node join` records its
 * members (`members/<name>`, removed by `portway node leave`); there, only a member runs an agent: a
 * node that left and is started again (a reboot with its service still enabled) must not take paths.
 * A cluster of settings files from before `node join` records no members: any node may run.
 */
import type { CoordStore } from '../adapters/coord/types.js';
import { MEMBERS, memberKey } from '../domain/keys.js';

/** Exit status of `portway agent` refused for not being a member (EX_CONFIG; the unit does not restart on it). */
export const NOT_A_MEMBER_EXIT = 78;

export class NotAMemberError extends Error {
  readonly code = 'not_a_member';
}

/** Whether a node may run an agent, given the members the store records. Pure. */
export function membershipOf(members: readonly string[], node: string): 'member' | 'no-members' | 'not-member' {
  if (members.length === 0) return 'no-members';
  return members.includes(node) ? 'member' : 'not-member';
}

/** This node's membership, or NotAMemberError when the cluster records members and this node is not one. */
export async function checkMembership(store: CoordStore, node: string): Promise<'member' | 'no-members'> {
  const members = (await store.list(MEMBERS)).map((kv) => kv.key.slice(MEMBERS.length));
  const m = membershipOf(members, node);
  if (m === 'not-member')
    throw new NotAMemberError(
      `node ${node} is not a member of this cluster (members: ${members.join(', ')}): it left, or never joined. Run \`portway node join\` on it to (re)join.`,
    );
  return m;
}

/**
 * Calls `onRemoved` once when this node's member key is deleted (`portway node leave`). After a watch
 * reset the key is read again; a failed read counts as present (an unreachable store is not a leave).
 */
export async function whenRemoved(store: CoordStore, node: string, onRemoved: () => void): Promise<void> {
  const key = memberKey(node);
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    onRemoved();
  };
  const check = async () => {
    if (!(await store.get(key).catch(() => true))) fire();
  };
  await store.watch(
    key,
    (ev) => {
      if (ev.key === key && ev.type === 'delete') fire();
    },
    () => void check(),
  );
  await check();
}

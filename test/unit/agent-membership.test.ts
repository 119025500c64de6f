/** Cluster membership as the agent sees it (src/agent/membership.ts), on the embedded store. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmbeddedStore } from '../../src/adapters/coord/embedded-store.js';
import { NotAMemberError, checkMembership, membershipOf, whenRemoved } from '../../src/agent/membership.js';
import { memberKey } from '../../src/domain/keys.js';

describe('agent membership', () => {
  it('no members recorded: any node runs; members recorded: only a member', () => {
    assert.equal(membershipOf([], 'n1'), 'no-members');
    assert.equal(membershipOf(['n1', 'n2'], 'n2'), 'member');
    assert.equal(membershipOf(['n1', 'n2'], 'n3'), 'not-member');
    assert.equal(membershipOf(['n10'], 'n1'), 'not-member');
  });

  it('checkMembership refuses a node that is not a member, naming the members', async () => {
    const store = new EmbeddedStore({ tickMs: 50 });
    try {
      assert.equal(await checkMembership(store, 'n3'), 'no-members');
      await store.put(memberKey('n1'), '{}');
      await store.put(memberKey('n2'), '{}');
      assert.equal(await checkMembership(store, 'n1'), 'member');
      await assert.rejects(checkMembership(store, 'n3'), (e: unknown) => {
        assert.ok(e instanceof NotAMemberError);
        assert.equal(e.code, 'not_a_member');
        assert.match(e.message, /node n3 is not a member of this cluster \(members: n1, n2\)/);
        return true;
      });
    } finally {
      await store.close();
    }
  });

  it('whenRemoved fires once when the member key goes, not for another member with the same prefix', async () => {
    const store = new EmbeddedStore({ tickMs: 50 });
    try {
      await store.put(memberKey('n1'), '{}');
      await store.put(memberKey('n10'), '{}');
      let fired = 0;
      await whenRemoved(store, 'n1', () => fired++);
      await store.delete(memberKey('n10'));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(fired, 0);
      await store.delete(memberKey('n1'));
      for (let i = 0; i < 50 && fired === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(fired, 1);
    } finally {
      await store.close();
    }
  });

  it('whenRemoved fires at once for a node already removed', async () => {
    const store = new EmbeddedStore({ tickMs: 50 });
    try {
      let fired = 0;
      await whenRemoved(store, 'n1', () => fired++);
      assert.equal(fired, 1);
    } finally {
      await store.close();
    }
  });
});

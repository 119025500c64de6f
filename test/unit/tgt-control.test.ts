/** tgt-control without tgtd: the request bytes, the parameter checks, and stand-in sockets that misbehave. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TgtError, encodeParams, encodeRequest, request, targetOps, tgtadmMessage } from '../../src/adapters/tgt/tgt-control.js';
import { waitFor } from '../helpers/wait.js';

describe('tgt-control: encoding', () => {
  it('lays the header out as tgtadm does (120 bytes, len, tid, lun, force) and NUL-terminates the text', () => {
    const b = encodeRequest({ mode: 'target', op: 'new', lld: 'iscsi', tid: 1, params: { targetname: 'iqn.2016-05.io.portway.test:x' } });
    const text = 'targetname=iqn.2016-05.io.portway.test:x\0';
    assert.equal(b.length, 120 + text.length);
    assert.equal(b.readUInt32LE(0), 1); // MODE_TARGET
    assert.equal(b.readUInt32LE(4), 0); // OP_NEW
    assert.equal(b.subarray(8, 13).toString(), 'iscsi');
    assert.equal(b[13], 0);
    assert.equal(b.readUInt32LE(72), b.length);
    assert.equal(b.readInt32LE(76), 1);
    assert.equal(b.readBigUInt64LE(88), 0xffff_ffff_ffff_ffffn); // no LUN
    assert.equal(b.readUInt32LE(116), 0);
    assert.equal(b.subarray(120).toString('latin1'), text);
    const d = encodeRequest({ mode: 'system', op: 'delete' });
    assert.equal(d.length, 120, 'no parameters: no text at all');
    assert.equal(d.readInt32LE(76), -1);
    const f = encodeRequest({ mode: 'target', op: 'delete', lld: 'iscsi', tid: 1, force: true });
    assert.equal(f.readUInt32LE(116), 1);
    const l = encodeRequest({ mode: 'logicalunit', op: 'update', lld: 'iscsi', tid: 1, lun: 1, params: targetOps({ vendor_id: 'PORTWAY', scsi_sn: 'PW1' }) });
    assert.equal(l.readBigUInt64LE(88), 1n);
    assert.equal(l.subarray(120).toString('latin1'), 'targetOps vendor_id=PORTWAY,scsi_sn=PW1,\0');
  });

  it('refuses names and values that would read back as other parameters', () => {
    const bad: Record<string, string>[] = [
      { targetname: 'iqn.2016-05.io.portway.test:x,initiator-address=ALL' },
      { targetname: 'iqn.x=y' },
      { path: '/tmp/a,bstype=null' },
      { path: '/tmp/a\0b' },
      { path: '/tmp/a\nTarget 2: forged' },
      { user: 'u,password=x' },
      { user: 'u=v' },
      { 'a=b': 'c' },
      { 'a,b': 'c' },
      { '': 'c' },
      { password: 'p', user: 'u' }, // the password is read to the end of the text: it must come last
      { password: 'abc\0def' },
    ];
    for (const p of bad) assert.throws(() => encodeRequest({ mode: 'target', op: 'new', tid: 1, params: p }), TgtError, JSON.stringify(p));
    // The same checks apply to a ready-made text.
    for (const t of ['targetname=a,b', 'a', '=x', 'x=1,', 'targetOps a=b', 'targetOps a=b,c,', 'path=/x\0', 'targetOps password=x,'])
      assert.throws(() => encodeRequest({ mode: 'target', op: 'new', tid: 1, params: t }), TgtError, t);
    assert.throws(() => targetOps({ scsi_id: 'a,b' }), TgtError);
    assert.throws(() => encodeRequest({ mode: 'target', op: 'new', tid: 1, params: { targetname: 'x'.repeat(9000) } }), /8192/);
    assert.throws(() => encodeRequest({ mode: 'target', op: 'new', lld: 'iscsi,x', tid: 1 }), TgtError);
    assert.throws(() => encodeRequest({ mode: 'target', op: 'new', tid: 1.5 }), TgtError);
  });

  it('takes what Portway sends: bsopts k=v;k=v, a CHAP password with , and = as the last pair', () => {
    assert.equal(
      encodeParams({ path: 'rbd/img', bstype: 'rbd', bsopts: 'conf=/etc/ceph/ceph.conf;id=admin' }),
      'path=rbd/img,bstype=rbd,bsopts=conf=/etc/ceph/ceph.conf;id=admin',
    );
    assert.equal(encodeParams({ user: 'u-1@x', password: 'a,b=c!#$%&()*' }), 'user=u-1@x,password=a,b=c!#$%&()*');
    assert.doesNotThrow(() => encodeRequest({ mode: 'account', op: 'new', params: 'user=u,password=a,b=c' }));
    assert.equal(tgtadmMessage(9), 'this target already exists');
    assert.equal(tgtadmMessage(99), '(unknown tgtadm_errno)');
  });
});

describe('tgt-control: stand-in sockets', () => {
  let dir: string;
  const servers: Server[] = [];
  const open = new Set<Socket>();
  /** A server on <dir>/socket.<port> that handles each connection with fn. */
  const serve = (port: number, fn: (s: Socket) => void) =>
    new Promise<void>((resolve) => {
      const srv = createServer((s) => {
        open.add(s);
        s.on('close', () => open.delete(s));
        s.on('error', () => {});
        fn(s);
      });
      servers.push(srv);
      srv.listen(join(dir, `socket.${port}`), resolve);
    });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pw-tgtctl-'));
  });
  after(async () => {
    for (const s of open) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    rmSync(dir, { recursive: true, force: true });
  });

  it('an answer split in pieces is put together; the text stops at its NUL', async () => {
    await serve(1, (s) => {
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length < 120 || got.length < got.readUInt32LE(72)) return;
        const text = Buffer.from(`echo:${got.subarray(120).toString('latin1')}`);
        const h = Buffer.alloc(8);
        h.writeUInt32LE(0, 0);
        h.writeUInt32LE(8 + text.length, 4);
        const all = Buffer.concat([h, text]);
        s.write(all.subarray(0, 3));
        setTimeout(() => s.end(all.subarray(3)), 20);
      });
    });
    const r = await request(1, { mode: 'system', op: 'update', params: { debug: 'off' } }, { socketDir: dir });
    assert.equal(r.text, 'echo:debug=off');
  });

  it("tgtd's error code becomes tgtadm's message", async () => {
    await serve(2, (s) =>
      s.once('data', () => {
        const h = Buffer.alloc(8);
        h.writeUInt32LE(14, 0);
        h.writeUInt32LE(8, 4);
        s.end(h);
      }),
    );
    await assert.rejects(request(2, { mode: 'account', op: 'new', params: { user: 'u', password: 'p' } }, { socketDir: dir }), (e: unknown) => {
      assert.ok(e instanceof TgtError);
      assert.equal(e.message, 'this account already exists');
      assert.equal(e.code, 14);
      return true;
    });
  });

  it('no answer in time: rejects at the timeout and closes the connection', async () => {
    let closed = false;
    await serve(3, (s) => {
      s.resume(); // read the request, answer nothing
      s.on('close', () => (closed = true));
    });
    const t0 = Date.now();
    await assert.rejects(request(3, { mode: 'system', op: 'show' }, { socketDir: dir, timeoutMs: 300 }), /did not answer/);
    assert.ok(Date.now() - t0 < 5000);
    await waitFor(() => closed, { what: 'the client to close its end', timeoutMs: 1000, intervalMs: 10 });
  });

  it('a connection closed without an answer, a half answer, no socket: each an error', async () => {
    await serve(4, (s) => s.once('data', () => s.end()));
    await assert.rejects(request(4, { mode: 'system', op: 'show' }, { socketDir: dir }), /tgtd closed the socket/);
    await serve(5, (s) =>
      s.once('data', () => {
        const h = Buffer.alloc(8);
        h.writeUInt32LE(0, 0);
        h.writeUInt32LE(100, 4);
        s.end(h);
      }),
    );
    await assert.rejects(request(5, { mode: 'system', op: 'show' }, { socketDir: dir }), /tgtd closed the socket/);
    await assert.rejects(request(6, { mode: 'system', op: 'show' }, { socketDir: dir }), /can't connect to tgt daemon/);
    await assert.rejects(request(40000, { mode: 'system', op: 'show' }, { socketDir: dir }), /out of range/);
    await waitFor(() => open.size === 0, { what: 'no connection left open', timeoutMs: 1000, intervalMs: 10 });
  });
});

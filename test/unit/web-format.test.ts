/** The web UI's capacity formatting: one binary unit, and the overcommit levels of the dashboard. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GIB, formatBytes, formatGiB, overcommitLevel } from '../../web/src/format.js';

describe('web capacity format', () => {
  it('sizes in GiB (binary), byte counts in binary units', () => {
    assert.equal(formatGiB(1500), '1,500 GiB');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1.5 * 1024 ** 2), '1.5 MiB');
    assert.equal(formatBytes(10 * GIB), '10.0 GiB');
    assert.equal(formatBytes(250 * GIB), '250 GiB');
    assert.equal(formatBytes(3 * 1024 * GIB), '3.0 TiB');
  });

  it('overcommit: none up to 100% of raw capacity, a note past it, a warning past 200%', () => {
    const raw = 100 * GIB;
    assert.equal(overcommitLevel(100 * GIB, raw), 'none');
    assert.equal(overcommitLevel(101 * GIB, raw), 'note');
    assert.equal(overcommitLevel(200 * GIB, raw), 'note');
    assert.equal(overcommitLevel(201 * GIB, raw), 'warning');
    assert.equal(overcommitLevel(5 * GIB, 0), 'none', 'no capacity known: nothing said');
  });
});

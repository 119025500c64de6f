/** Session parameters equal to tgtd's defaults for a new target are not sent (one control request each). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TGT_TUNING, isTgtdSessionDefault } from '../../src/adapters/tgt/tgt.js';

describe('isTgtdSessionDefault', () => {
  it("knows tgtd's values for a new target, case of Yes/No aside", () => {
    assert.equal(isTgtdSessionDefault('MaxRecvDataSegmentLength', '8192'), true);
    assert.equal(isTgtdSessionDefault('InitialR2T', 'yes'), true);
    assert.equal(isTgtdSessionDefault('FirstBurstLength', '65536'), true);
    assert.equal(isTgtdSessionDefault('MaxBurstLength', '262144'), true);
  });
  it('sends anything else, and names it does not know', () => {
    assert.equal(isTgtdSessionDefault('MaxRecvDataSegmentLength', '262144'), false);
    assert.equal(isTgtdSessionDefault('InitialR2T', 'No'), false);
    assert.equal(isTgtdSessionDefault('SomethingElse', '8192'), false);
  });
  it('the default tuning differs from every tgtd default (all five are sent)', () => {
    for (const [name, value] of Object.entries(DEFAULT_TGT_TUNING.targetParams ?? {})) assert.equal(isTgtdSessionDefault(name, value), false, name);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeSemiSync } from '../../../agent/cli/status.js';
import { MetricsRecorder } from '../../../agent/metrics.js';
import { SemiSyncWatch } from '../../../agent/stream/semi-sync-watch.js';

const on = { enabled: true, active: true, fallbacks: 2, clients: 1 };
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

describe('SemiSyncWatch', () => {
  it('reports on, then a fallback when the status turns off, then its resumption, keeping when each began', () => {
    const w = new SemiSyncWatch('best-effort', at(0));
    assert.equal(w.current.status, 'unknown');
    assert.equal(w.observe(on, at(1)), undefined);
    assert.deepEqual(w.current, { mode: 'best-effort', enabled: true, status: 'on', fallbacks: 2, since: at(1) });
    assert.equal(w.observe(on, at(2)), undefined);
    assert.equal(w.current.since, at(1));
    assert.equal(w.observe({ ...on, active: false, fallbacks: 3 }, at(3)), 'fell-back');
    assert.deepEqual(w.current, { mode: 'best-effort', enabled: true, status: 'off', fallbacks: 3, since: at(3) });
    assert.equal(w.observe({ ...on, active: false, fallbacks: 3 }, at(4)), undefined, 'told once');
    assert.equal(w.observe({ ...on, fallbacks: 3 }, at(5)), 'resumed');
    assert.equal(w.current.since, at(5));
  });

  it('counts a fallback that came and went between two readings', () => {
    const w = new SemiSyncWatch('strict', at(0));
    w.observe(on, at(1));
    assert.equal(w.observe({ ...on, fallbacks: 3 }, at(2)), 'fell-back');
    assert.equal(w.current.status, 'on');
  });

  it('tells a first reading that finds commits asynchronous apart from a fallback it saw', () => {
    const w = new SemiSyncWatch('best-effort', at(0));
    assert.equal(w.observe({ ...on, active: false }, at(1)), 'found-off');
    assert.equal(new SemiSyncWatch('best-effort', at(0)).observe({ ...on, enabled: false, active: false }, at(1)), 'found-off');
  });

  it('the metric counts fallbacks between readings, from the first reading on', () => {
    const r = new MetricsRecorder(0);
    r.heartbeatSent({ lagSeconds: 0, semiSync: { mode: 'best-effort', enabled: true, status: 'off', fallbacks: 5, since: at(0) } });
    assert.equal(r.take(1000).SemiSyncFallback, 0, 'the first reading is the base');
    r.heartbeatSent({ semiSync: { mode: 'best-effort', enabled: true, status: 'on', fallbacks: 5, since: at(1) } });
    r.heartbeatSent({ semiSync: { mode: 'best-effort', enabled: true, status: 'off', fallbacks: 7, since: at(2) } });
    assert.equal(r.take(2000).SemiSyncFallback, 2);
    r.heartbeatSent({ semiSync: { mode: 'best-effort', enabled: true, status: 'off', fallbacks: 7, since: at(2) } });
    assert.equal(r.take(3000).SemiSyncFallback, 0, 'a fallback is counted once');
    r.heartbeatSent({ lagSeconds: 0 });
    assert.equal(r.take(4000).SemiSyncFallback, 0, 'lossless off: always 0');
  });

  it('status says loudly when commits are asynchronous in lossless mode', () => {
    assert.match(describeSemiSync({ mode: 'strict', enabled: true, status: 'on', fallbacks: 0, since: at(0) }), /^strict: on, commits wait for S3/);
    assert.match(describeSemiSync({ mode: 'best-effort', enabled: true, status: 'off', fallbacks: 1, since: at(3) }), /FELL BACK to asynchronous commits since 2026-01-01T00:00:03.000Z: .* RPO above zero \(1 fallback/);
    assert.match(describeSemiSync({ mode: 'best-effort', enabled: false, status: 'off', fallbacks: 0, since: at(3) }), /semi-sync is OFF on the primary/);
    assert.match(describeSemiSync({ mode: 'off', enabled: false, status: 'off', fallbacks: 0 }), /^off/);
  });
});

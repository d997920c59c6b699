import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventType } from '../../../agent/binlog/event-types.js';
import { parseMariaGtidList } from '../../../agent/protocol/gtid.js';
import { fileHoldsStart, GtidFilter, startAfterFile, type FilterEvent } from '../../../agent/serve/gtid-filter.js';

const g = parseMariaGtidList;

describe('where a GTID dump starts (contains_all_slave_gtid)', () => {
  const cases: [string, string, string, boolean][] = [
    ['empty position, first file', '', '', true],
    ['empty position, a later file', '', '0-1-5', false],
    ['position past the file start', '0-1-10', '0-1-5', true],
    ['position is the last GTID before the file', '0-1-5', '0-1-5', true],
    ['position before the file', '0-1-4', '0-1-5', false],
    ['another server in the domain: not comparable', '0-2-3', '0-1-5', true],
    ['a domain the position lacks', '0-1-10', '0-1-5,1-1-2', false],
    ['two domains, both past', '0-1-10,1-1-3', '0-1-5,1-1-2', true],
  ];
  for (const [name, start, list, holds] of cases) {
    it(`${name}: start '${start}', GTID_LIST '${list}' -> ${holds}`, () => {
      assert.equal(fileHoldsStart(g(start), g(list)), holds);
    });
  }
  it('drops the domains the file begins right after', () => {
    assert.deepEqual(startAfterFile(g('0-1-5,1-1-9'), g('0-1-5,1-1-2')), g('1-1-9'));
  });
});

/** Group n: GTID 0-1-n, a table map, rows, XID. Standalone groups: GTID, QUERY. */
function group(seq: number, standalone = false): FilterEvent[] {
  const gtid = { type: EventType.MARIA_GTID, gtid: { domainId: 0, serverId: 1, seqNo: seq }, standalone };
  if (standalone) return [gtid, { type: EventType.QUERY, commits: false }];
  return [gtid, { type: EventType.TABLE_MAP }, { type: EventType.WRITE_ROWS_V1 }, { type: EventType.XID }];
}
const stream = (n: number, standaloneAt = -1) => [{ type: EventType.MARIA_GTID_LIST, gtidList: [] }, ...Array.from({ length: n }, (_, i) => group(i + 1, i + 1 === standaloneAt)).flat()];

function sentGtids(filter: GtidFilter, events: FilterEvent[]) {
  const sent: number[] = [];
  const notes: string[] = [];
  for (const ev of events) {
    const v = filter.step(ev);
    if (v.send && ev.gtid) sent.push(ev.gtid.seqNo);
    if (v.fakeGtidListAfter) notes.push(`fake list ${v.fakeGtidListAfter.map((x) => x.seqNo).join(',')}`);
    if (v.untilReachedAfter) notes.push(`until ${v.untilReachedAfter.map((x) => x.seqNo).join(',')}`);
    if (v.stopAfter) notes.push('stop');
    if (v.untilReachedAfter || v.stopAfter) break; // the dump ends there
  }
  return { sent, notes };
}

describe('GTID filter (send_event_to_slave)', () => {
  it('a file/position dump sends everything', () => {
    assert.deepEqual(sentGtids(new GtidFilter(null), stream(3)).sent, [1, 2, 3]);
  });

  it('skips the groups up to the start GTID, then tells the replica with a fake GTID_LIST', () => {
    const r = sentGtids(new GtidFilter(g('0-1-2')), stream(4, 2));
    assert.deepEqual(r.sent, [3, 4]);
    assert.deepEqual(r.notes, ['fake list 2']);
  });

  it('after a jump over chunks the start holds: skips the rest of a group begun in them, and says the position at once when the jump completed the start', () => {
    // the dump read the file head, then jumped to a chunk that begins inside group 3 (TABLE_MAP ...)
    const f = new GtidFilter(g('0-1-3'));
    assert.equal(f.step({ type: EventType.MARIA_GTID_LIST, gtidList: [] }).send, true);
    assert.deepEqual(f.jumpedOver(g('0-1-3')), g('0-1-3'));
    const rest = [...group(3).slice(1), ...group(4), ...group(5)];
    const sent = rest.filter((ev) => f.step(ev).send);
    assert.equal(sent[0]?.type, EventType.MARIA_GTID, 'nothing of group 3 is sent');
    assert.deepEqual(sent.filter((ev) => ev.gtid).map((ev) => ev.gtid!.seqNo), [4, 5]);
    assert.equal(f.startReached, true);
    assert.equal(f.missingStart(), undefined);
  });

  it('after a jump that stops short of the start: skips on to the start GTID, then the fake GTID_LIST', () => {
    const f = new GtidFilter(g('0-1-4'));
    assert.equal(f.jumpedOver(g('0-1-2')), undefined);
    const r = sentGtids(f, [...group(2).slice(2), ...group(3), ...group(4), ...group(5)]);
    assert.deepEqual(r.sent, [5]);
    assert.deepEqual(r.notes, ['fake list 4']);
  });

  it('skips a standalone group whole: its statement is never sent without its GTID', () => {
    // group 1 is standalone (a DDL): GTID, QUERY; the replica starts after it
    const events = stream(3, 1);
    const f = new GtidFilter(g('0-1-1'));
    const sent = events.filter((ev) => f.step(ev).send);
    assert.equal(sent[0]?.type, EventType.MARIA_GTID_LIST);
    assert.equal(sent[1]?.type, EventType.MARIA_GTID, 'the first event after the skipped group must be a GTID event');
    assert.deepEqual(sent.filter((ev) => ev.gtid).map((ev) => ev.gtid!.seqNo), [2, 3]);
    assert.equal(sent.length, 1 + group(2).length + group(3).length);
  });

  it('stops after the UNTIL group with a GTID_LIST flagged UNTIL_REACHED', () => {
    const r = sentGtids(new GtidFilter(g(''), g('0-1-3')), stream(5));
    assert.deepEqual(r.sent, [1, 2, 3]);
    assert.equal(r.notes.at(-1), 'until 3');
  });

  it('stops after a standalone UNTIL group at its statement', () => {
    const f = new GtidFilter(g(''), g('0-1-2'));
    const events = stream(3, 2);
    const at = events.findIndex((e) => e.type === EventType.QUERY);
    events.slice(0, at).forEach((e) => f.step(e));
    assert.ok(f.step(events[at]!).untilReachedAfter);
  });

  it('the fake primary\'s own stop position ends the stream after that transaction', () => {
    const r = sentGtids(new GtidFilter(null, undefined, g('0-1-2')), stream(4));
    assert.deepEqual(r.sent, [1, 2]);
    assert.deepEqual(r.notes, ['stop']);
  });

  it('a start GTID that never turns up in a domain the binlog has is reported; an unknown domain is not', () => {
    const f = new GtidFilter(g('0-1-9,5-1-1'));
    sentGtids(f, stream(3));
    assert.equal(f.missingStart()?.gtid.seqNo, 9);
    const other = new GtidFilter(g('5-1-1'));
    sentGtids(other, stream(3));
    assert.equal(other.missingStart(), undefined);
  });
});

/** Events of groups in the given GTIDs ('d-s-n', a trailing '!' for a standalone group, '?' for an XA PREPARE group). */
function groups(...specs: string[]): FilterEvent[] {
  return specs.flatMap((spec): FilterEvent[] => {
    const [d, s, n] = spec.replace(/[!?]$/, '').split('-').map(Number) as [number, number, number];
    const gtid: FilterEvent = { type: EventType.MARIA_GTID, gtid: { domainId: d, serverId: s, seqNo: n }, standalone: spec.endsWith('!') };
    if (spec.endsWith('!')) return [gtid, { type: EventType.QUERY, commits: false }];
    if (spec.endsWith('?')) return [gtid, { type: EventType.TABLE_MAP }, { type: EventType.WRITE_ROWS_V1 }, { type: EventType.XA_PREPARE, commits: true }];
    return [gtid, { type: EventType.TABLE_MAP }, { type: EventType.WRITE_ROWS_V1 }, { type: EventType.XID }];
  });
}

/** What a filter sends, as `d-n` per group start, and whether the group's last event went too. */
function sentGroups(filter: GtidFilter, events: FilterEvent[]): string[] {
  const out: string[] = [];
  for (const ev of events) {
    const v = filter.step(ev);
    if (v.send && ev.gtid) out.push(`${ev.gtid.domainId}-${ev.gtid.seqNo}`);
    if (v.send && (ev.commits || ev.type === EventType.XID || ev.type === EventType.QUERY)) out[out.length - 1] += '.';
    if (v.stopAfter || v.untilReachedAfter) break;
  }
  return out;
}

describe("the fake primary's own stop point (a point in the stream)", () => {
  it('sends the domains it does not name up to the point, and ends after the named GTID', () => {
    const r = sentGroups(new GtidFilter(null, undefined, g('7-1-2')), groups('0-1-1', '7-1-1', '0-1-2', '7-1-2', '0-1-3', '7-1-3'));
    assert.deepEqual(r, ['0-1.', '7-1.', '0-2.', '7-2.']);
  });

  it('skips a named domain past its GTID until every named GTID is reached', () => {
    const r = sentGroups(new GtidFilter(null, undefined, g('0-1-1,7-1-2')), groups('0-1-1', '0-1-2', '7-1-1', '3-1-1', '7-1-2', '0-1-3'));
    assert.deepEqual(r, ['0-1.', '7-1.', '3-1.', '7-2.']);
  });

  it('counts a domain the start position already holds as reached', () => {
    const r = sentGroups(new GtidFilter(g('0-1-5,7-1-9'), undefined, g('0-1-6,7-1-9')), groups('0-1-6', '7-1-10', '0-1-7'));
    assert.deepEqual(r, ['0-6.']);
  });

  it('ends before anything when a GTID_LIST already holds the stop point', () => {
    const r = sentGroups(new GtidFilter(null, undefined, g('0-1-3')), [{ type: EventType.MARIA_GTID_LIST, gtidList: g('0-1-4') }, ...groups('0-1-5')]);
    assert.deepEqual(r, []);
  });

  it('ends an XA COMMIT group (standalone) after its statement, not after its GTID event', () => {
    const r = sentGroups(new GtidFilter(null, undefined, g('0-1-2')), groups('0-1-1?', '0-1-2!', '0-1-3'));
    assert.deepEqual(r, ['0-1.', '0-2.']);
  });

  it('reports the stop GTIDs not reached when the binlog ends first', () => {
    const filter = new GtidFilter(null, undefined, g('0-1-9'));
    sentGroups(filter, groups('0-1-1'));
    assert.deepEqual(filter.stopUnreached, g('0-1-9'));
  });
});

describe("a replica's UNTIL master_gtid_pos", () => {
  it('ends an XA PREPARE group at its XA_PREPARE event and a standalone group after its statement', () => {
    const prepare = sentGroups(new GtidFilter(g('0-1-0'), g('0-1-1')), groups('0-1-1?', '0-1-2!'));
    assert.deepEqual(prepare, ['0-1.']);
    const standalone = sentGroups(new GtidFilter(g('0-1-0'), g('0-1-2')), groups('0-1-1?', '0-1-2!', '0-1-3'));
    assert.deepEqual(standalone, ['0-1.', '0-2.']);
  });

  it('skips, from the start, an XA PREPARE group the replica already has, and sends the next group whole', () => {
    const r = sentGroups(new GtidFilter(g('0-1-1')), groups('0-1-1?', '0-1-2!', '0-1-3'));
    assert.deepEqual(r, ['0-2.', '0-3.']);
  });
});

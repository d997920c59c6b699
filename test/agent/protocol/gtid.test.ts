import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../agent/errors.js';
import {
  advanceMariaGtidList,
  compareMariaGtid,
  formatMariaGtidList,
  formatMysqlGtidSet,
  mariaGtidListCovers,
  parseMariaGtid,
  parseMariaGtidList,
  parseMysqlGtidSet,
} from '../../../agent/protocol/gtid.js';

describe('MariaDB GTID positions', () => {
  const roundTrips: [string, string, number][] = [
    ['', '', 0],
    ['0-1-1', '0-1-1', 1],
    ['0-1-100,1-2-7', '0-1-100,1-2-7', 2],
    [' 0-1-100 , 4294967295-4294967295-9007199254740991 ', '0-1-100,4294967295-4294967295-9007199254740991', 2],
    ['0-10201-9868', '0-10201-9868', 1],
  ];
  for (const [text, formatted, count] of roundTrips) {
    it(`parses '${text}' into ${count} GTIDs and formats it as '${formatted}'`, () => {
      const list = parseMariaGtidList(text);
      assert.equal(list.length, count);
      assert.equal(formatMariaGtidList(list), formatted);
    });
  }

  it('reads the three numbers of a GTID', () => {
    assert.deepEqual(parseMariaGtid('3-20-1234'), { domainId: 3, serverId: 20, seqNo: 1234 });
  });

  const invalid: [string, string][] = [
    ['0-1', 'two parts'],
    ['0-1-2-3', 'four parts'],
    ['a-1-2', 'a letter'],
    ['0-1--2', 'a negative number'],
    ['4294967296-1-2', 'a domain past u32'],
    ['0-1-9007199254740992', 'a sequence number past 2^53'],
    ['0-1-5,0-2-6', 'a domain twice'],
    ['0-1-5,', 'a trailing comma'],
  ];
  for (const [text, why] of invalid) {
    it(`rejects '${text}' (${why}) with a ProtocolError quoting it`, () => {
      assert.throws(() => parseMariaGtidList(text), (err: unknown) => err instanceof ProtocolError && err.message.includes(text));
    });
  }

  it('orders GTIDs of one domain by sequence number and refuses to order different domains', () => {
    assert.ok(compareMariaGtid(parseMariaGtid('0-1-5'), parseMariaGtid('0-2-7')) < 0);
    assert.equal(compareMariaGtid(parseMariaGtid('0-1-7'), parseMariaGtid('0-2-7')), 0);
    assert.ok(compareMariaGtid(parseMariaGtid('0-1-8'), parseMariaGtid('0-1-7')) > 0);
    assert.throws(() => compareMariaGtid(parseMariaGtid('0-1-5'), parseMariaGtid('1-1-5')), ProtocolError);
  });

  const covers: [string, string, boolean][] = [
    ['0-1-10', '0-1-10', true],
    ['0-1-10', '0-1-9', true],
    ['0-1-10', '0-1-11', false],
    ['0-1-10', '1-1-1', false],
    ['', '0-1-1', false],
    ['0-1-10,1-1-3', '1-1-3', true],
  ];
  for (const [list, gtid, expected] of covers) {
    it(`says position '${list}' ${expected ? 'covers' : 'does not cover'} ${gtid}`, () => {
      assert.equal(mariaGtidListCovers(parseMariaGtidList(list), parseMariaGtid(gtid)), expected);
    });
  }

  it('advances a position by replacing or adding the domain, ordered by domain, without changing the input', () => {
    const before = parseMariaGtidList('1-1-3');
    assert.equal(formatMariaGtidList(advanceMariaGtidList(before, parseMariaGtid('0-1-4'))), '0-1-4,1-1-3');
    assert.equal(formatMariaGtidList(advanceMariaGtidList(before, parseMariaGtid('1-2-4'))), '1-2-4');
    assert.equal(formatMariaGtidList(before), '1-1-3');
  });
});

describe('MySQL GTID sets', () => {
  const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
  const B = '61d5b289-bccc-11f0-b921-cabbb4ee51f6';
  const cases: [string, string, string][] = [
    [`${A}:1-5`, `${A}:1-5`, 'one interval'],
    [`${A}:1-5:7`, `${A}:1-5:7`, 'two intervals, one a single transaction'],
    [`${B}:1-3,${A}:1-5:7`, `${A}:1-5:7,${B}:1-3`, 'two sids, sorted'],
    [`${A}:1-5,\n${B}:2`, `${A}:1-5,${B}:2`, 'newline after the comma, as SHOW prints it'],
    [`${A}:7:1-5:6`, `${A}:1-7`, 'adjacent intervals merged'],
    [`${A}:1-5,${A}:3-9`, `${A}:1-9`, 'one sid twice, overlapping'],
    [`${A.toUpperCase()}:1`, `${A}:1`, 'uppercase uuid'],
    ['', '', 'the empty set'],
  ];
  for (const [text, formatted, why] of cases) {
    it(`normalises '${text.replace('\n', '\\n')}' to '${formatted}' (${why})`, () => {
      assert.equal(formatMysqlGtidSet(parseMysqlGtidSet(text)), formatted);
    });
  }

  it('stores intervals half-open, as the dump command encodes them', () => {
    assert.deepEqual(parseMysqlGtidSet(`${A}:1-5:7`), [
      {
        sid: A,
        intervals: [
          { start: 1, end: 6 },
          { start: 7, end: 8 },
        ],
      },
    ]);
  });

  const invalid: [string, string][] = [
    [`${A}`, 'no interval'],
    [`${A}:0-3`, 'starts at 0'],
    [`${A}:5-3`, 'backwards'],
    [`${A}:tag:1-3`, 'a tagged GTID'],
    ['not-a-uuid:1-3', 'a bad uuid'],
  ];
  for (const [text, why] of invalid) {
    it(`rejects '${text}' (${why})`, () => {
      assert.throws(() => parseMysqlGtidSet(text), ProtocolError);
    });
  }
});

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readAll } from '../../../agent/store/bytes.js';

const stream = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));

describe('readAll', () => {
  it('reads a stream of known length into one buffer, in order', async () => {
    assert.equal((await readAll(stream('ab', 'cde', 'f'), 6)).toString(), 'abcdef');
    assert.equal((await readAll(stream(), 0)).length, 0);
  });

  it('reads a stream of unknown length', async () => {
    assert.equal((await readAll(stream('ab', 'cd'))).toString(), 'abcd');
    assert.equal((await readAll(stream('only'))).toString(), 'only');
  });

  it('refuses a body that ends short of, or runs past, its announced length', async () => {
    await assert.rejects(readAll(stream('ab', 'c'), 4), /ended after 3 of its announced 4 bytes/);
    await assert.rejects(readAll(stream('ab', 'cde'), 4), /ran past its announced 4 bytes/);
  });
});

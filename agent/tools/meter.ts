import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through stream that counts (and optionally hashes) the bytes going through it, and can
 * hand short lines to a callback (to read a tool's position comments out of its output without
 * holding the output). Lines longer than `maxLineBytes` are skipped, not buffered.
 */
export interface MeterOptions {
  onBytes?: (n: number) => void;
  sha256?: boolean;
  onLine?: (line: string) => void;
  maxLineBytes?: number;
}

export class Meter extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private overlong = false;

  constructor(private readonly opts: MeterOptions = {}) {
    super();
    this.hash = opts.sha256 ? createHash('sha256') : undefined;
  }

  /** Hex SHA-256 of every byte seen (call once, after the stream ended). */
  digest(): string {
    if (!this.hash) throw new Error('meter was created without sha256');
    return this.hash.digest('hex');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    this.opts.onBytes?.(chunk.length);
    if (this.opts.onLine) this.lines(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.opts.onLine && !this.overlong && this.partialBytes > 0) this.opts.onLine(Buffer.concat(this.partial).toString('utf8'));
    done();
  }

  private lines(chunk: Buffer): void {
    const max = this.opts.maxLineBytes ?? 1024;
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl !== -1; nl = chunk.indexOf(10, from)) {
      if (!this.overlong && this.partialBytes + (nl - from) <= max) {
        this.partial.push(chunk.subarray(from, nl));
        this.opts.onLine!(Buffer.concat(this.partial).toString('utf8'));
      }
      this.partial = [];
      this.partialBytes = 0;
      this.overlong = false;
      from = nl + 1;
    }
    const rest = chunk.length - from;
    if (this.overlong || this.partialBytes + rest > max) {
      this.overlong = true;
      this.partial = [];
      this.partialBytes = 0;
    } else if (rest > 0) {
      this.partial.push(Buffer.from(chunk.subarray(from)));
      this.partialBytes += rest;
    }
  }
}

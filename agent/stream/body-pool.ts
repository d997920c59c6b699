/**
 * Reusable buffers for chunk bodies. Each chunk is cut by copying its events into one buffer;
 * allocating a fresh 8 MiB buffer per chunk made garbage at the stream's own rate, which V8
 * reclaims late (external memory), so the agent's RSS grew far past what it holds on purpose, and
 * each fresh buffer's pages were faulted in again. A pool keeps a few buffers of the chunk size
 * and hands them out again once the shipper is done with a chunk.
 *
 * A body handed out must be given back at most once, and only when nothing reads it any more
 * (its upload settled and nothing retries it). A body that is never given back is simply garbage:
 * the pool then allocates a new one.
 */
export class BodyPool {
  private readonly free: Buffer[] = [];
  /** Buffers handed out and not given back: `give` takes back only these, once each. */
  private readonly out = new WeakSet<ArrayBufferLike>();

  /**
   * @param bufferBytes the size of each pooled buffer (the chunk size limit); a larger body gets a
   *   buffer of its own, not pooled
   * @param keep buffers kept for reuse; more given back are dropped
   */
  constructor(
    readonly bufferBytes: number,
    private readonly keep: number,
  ) {}

  /** Buffers waiting to be reused (their bytes are held). */
  get freeBuffers(): number {
    return this.free.length;
  }

  /** A buffer of exactly `sizeBytes` (its contents are arbitrary). */
  take(sizeBytes: number): Buffer {
    if (sizeBytes > this.bufferBytes) return Buffer.allocUnsafeSlow(sizeBytes);
    const whole = this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
    this.out.add(whole.buffer);
    return whole.subarray(0, sizeBytes);
  }

  /**
   * Gives back a body from `take`; the caller must not read or write it afterwards. A body that is
   * not out (another pool's, a large one, or one given back already) is ignored.
   */
  give(body: Buffer): void {
    if (!this.out.delete(body.buffer) || this.free.length >= this.keep) return;
    this.free.push(Buffer.from(body.buffer, 0, this.bufferBytes));
  }
}

import mysql from 'mysql2/promise';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A client of the local cluster's endpoint that writes numbered rows, one transaction each, and
 * records which the server acknowledged, with the GTID each committed as: what the failover
 * tests, the demo and the failover benchmark count against. When the endpoint stops answering
 * (the primary died) it reconnects every `retryMs` and goes on with the next number: a number is
 * tried once, so a row whose commit was cut off is never written twice.
 */
export interface Ack {
  id: number;
  /** `@@last_gtid` of its transaction (`domain-server-seq`). */
  gtid: string;
  /** When the acknowledgement arrived (ms since the epoch). */
  at: number;
}

export class NumberedWriter {
  readonly acked: Ack[] = [];
  /** Statements that failed (connection lost, refused, read-only): what an application saw. */
  readonly errors: { at: number; message: string }[] = [];
  private next = 1;
  private stopped = false;
  private running: Promise<void> | undefined;
  private paused: Promise<void> | undefined;
  private resume: (() => void) | undefined;
  private parked: (() => void) | undefined;

  constructor(
    private readonly url: string,
    readonly table = 'app.numbered',
    private readonly retryMs = 50,
  ) {}

  /** Creates the table (through the endpoint) and starts writing. */
  async start(): Promise<void> {
    const conn = await mysql.createConnection(this.url);
    try {
      const [db] = this.table.split('.');
      await conn.query(`CREATE DATABASE IF NOT EXISTS ${db}`);
      await conn.query(`CREATE TABLE IF NOT EXISTS ${this.table} (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL)`);
    } finally {
      await conn.end();
    }
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    let conn: mysql.Connection | undefined;
    while (!this.stopped) {
      if (this.paused) {
        this.parked?.();
        await this.paused;
        continue;
      }
      const id = this.next;
      try {
        conn ??= await mysql.createConnection({ uri: this.url, connectTimeout: 2000 });
        this.next++;
        await conn.query(`INSERT INTO ${this.table} VALUES (?, ?)`, [id, `row ${id}`]);
        const [rows] = await conn.query('SELECT @@last_gtid AS g');
        this.acked.push({ id, gtid: String((rows as { g: string }[])[0]!.g), at: Date.now() });
      } catch (err) {
        this.errors.push({ at: Date.now(), message: (err as Error).message });
        conn?.destroy();
        conn = undefined;
        await sleep(this.retryMs);
      }
    }
    conn?.destroy();
  }

  /** Stops writing until unpaused (a quiet moment: a restore compared with the primary); resolves once no write is in flight. */
  pause(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const parked = new Promise<void>((resolve) => (this.parked = resolve));
    this.paused ??= new Promise((resolve) => (this.resume = resolve));
    return parked;
  }

  unpause(): void {
    const r = this.resume;
    this.paused = undefined;
    this.resume = undefined;
    r?.();
  }

  /** Resolves once `n` more rows are acknowledged (or `timeoutMs` passed: rejects). */
  async waitForAcks(n: number, timeoutMs = 60_000): Promise<void> {
    const target = this.acked.length + n;
    const deadline = Date.now() + timeoutMs;
    while (this.acked.length < target) {
      if (Date.now() > deadline) throw new Error(`writer: ${this.acked.length} of ${target} rows acknowledged after ${timeoutMs} ms; last error: ${this.errors.at(-1)?.message ?? 'none'}`);
      await sleep(20);
    }
  }

  /** The first acknowledgement after `t`. */
  firstAckAfter(t: number): Ack | undefined {
    return this.acked.find((a) => a.at > t);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unpause();
    await this.running;
  }
}

/** The sequence number of a MariaDB GTID `domain-server-seq`. */
export const gtidSeq = (gtid: string): number => Number(gtid.split('-')[2]);

/** The sequence number a GTID position (`0-1-931,7-1-12`) holds for `domain`, or 0. */
export function positionSeq(position: string | undefined, domain = 0): number {
  const own = (position ?? '').split(',').find((g) => g.trim().startsWith(`${domain}-`));
  return own ? gtidSeq(own.trim()) : 0;
}

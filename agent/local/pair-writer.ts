import mysql from 'mysql2/promise';

/** An acknowledged commit: the number its transaction wrote, and its GTID when the session could still tell it. */
export interface AckedCommit {
  n: number;
  /** `@@last_gtid` (`domain-server-seq`) read on the same connection right after COMMIT; undefined when the connection died in between. */
  gtid?: string;
  /** When COMMIT returned (ms since the epoch). */
  at: number;
}

/** The two tables every transaction writes one row into: a restored row in one without the other is a partial transaction. */
export const PAIR_TABLES = { a: 'crash.a', b: 'crash.b' } as const;

/**
 * Clients that write numbered transactions through several connections at once, as an
 * application would, and record every commit the server acknowledged. Each transaction inserts
 * number n into two tables (`crash.a` and `crash.b`), so a restore holding only half of one is
 * caught. A connection that fails stops (the primary is being killed): a number is tried once,
 * and a commit whose answer never came is not counted as acknowledged.
 */
export class PairWriter {
  readonly acked: AckedCommit[] = [];
  /** Numbers whose transaction was sent (acknowledged or not). */
  attempted = 0;
  readonly errors: string[] = [];
  private next = 1;
  private stopped = false;
  private readonly conns: mysql.Connection[] = [];
  private loops: Promise<void>[] = [];

  constructor(
    private readonly url: string,
    private readonly connections = 4,
  ) {}

  /** Creates the schema; run before the base backup, so the backup holds the tables. */
  static async createSchema(url: string): Promise<void> {
    const conn = await mysql.createConnection(url);
    try {
      await conn.query('CREATE DATABASE IF NOT EXISTS crash');
      await conn.query(`CREATE TABLE IF NOT EXISTS ${PAIR_TABLES.a} (n INT PRIMARY KEY, conn INT NOT NULL, at BIGINT NOT NULL) ENGINE=InnoDB`);
      await conn.query(`CREATE TABLE IF NOT EXISTS ${PAIR_TABLES.b} (n INT PRIMARY KEY, note VARCHAR(200) NOT NULL) ENGINE=InnoDB`);
    } finally {
      await conn.end();
    }
  }

  /** Opens the connections and starts writing. */
  async start(): Promise<void> {
    for (let i = 0; i < this.connections; i++) this.conns.push(await mysql.createConnection(this.url));
    this.loops = this.conns.map((conn, i) => this.loop(conn, i));
  }

  private async loop(conn: mysql.Connection, index: number): Promise<void> {
    while (!this.stopped) {
      const n = this.next++;
      this.attempted++;
      try {
        await conn.query('BEGIN');
        await conn.query(`INSERT INTO ${PAIR_TABLES.a} VALUES (?, ?, ?)`, [n, index, Date.now()]);
        await conn.query(`INSERT INTO ${PAIR_TABLES.b} VALUES (?, ?)`, [n, `transaction ${n} of connection ${index} `.padEnd(120, '.')]);
        await conn.query('COMMIT');
      } catch (err) {
        this.errors.push((err as Error).message);
        return;
      }
      const ack: AckedCommit = { n, at: Date.now() };
      this.acked.push(ack);
      try {
        const [rows] = await conn.query('SELECT @@last_gtid AS g');
        ack.gtid = String((rows as { g: string }[])[0]!.g);
      } catch (err) {
        this.errors.push((err as Error).message);
        return;
      }
    }
  }

  /**
   * Stops writing: every connection is destroyed, so a transaction in flight (e.g. waiting for a
   * semi-sync acknowledgement that will never come) is abandoned, never counted. Waits at most
   * `waitMs` for the loops to notice.
   */
  async stop(waitMs = 2_000): Promise<void> {
    this.stopped = true;
    for (const c of this.conns) c.destroy();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.loops), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }
}

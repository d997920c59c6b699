import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Random } from './seeded-random.js';

/**
 * What the fault proxy does to requests. Every request draws its fate independently: first the
 * delay, then at most one of error, reset before forwarding, or reset after forwarding.
 */
export interface FaultPlan {
  /** Added before each request is forwarded (or failed), ms, uniform in [min, max]. @default none */
  delayMs?: { min: number; max: number };
  /** Share of requests answered 500 InternalError or 503 SlowDown without reaching S3. @default 0 */
  errorRate?: number;
  /**
   * Share of requests whose connection is reset: half of them before S3 sees the request, half
   * after S3 applied it (the response is lost, as a connection cut on its way back). @default 0
   */
  resetRate?: number;
}

export interface FaultCounts {
  requests: number;
  delayed: number;
  errors: number;
  resetsBefore: number;
  resetsAfter: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: point an S3 client here. */
  readonly endpoint: string;
  /** What the proxy did so far. */
  readonly counts: Readonly<FaultCounts>;
  stop(): Promise<void>;
}

const errorBody = (code: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`;

/**
 * An HTTP proxy in front of the local S3 that makes it slow or failing, as S3 is at its worst:
 * requests delayed, answered 500/503 (which the SDK retries), or cut with a connection reset,
 * before or after S3 applied them. `random` decides each request's fate (a seeded one makes a
 * trial's fault mix replayable, though not the exact requests it hits: their order depends on
 * timing). Like the test harness's holding and losing proxies, it forwards everything else as is.
 */
export async function startFaultProxy(target: string, plan: FaultPlan, random: Random): Promise<FaultProxy> {
  const upstream = new URL(target);
  const counts: FaultCounts = { requests: 0, delayed: 0, errors: 0, resetsBefore: 0, resetsAfter: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      counts.requests++;
      const body = Buffer.concat(parts);
      const delay = plan.delayMs ? plan.delayMs.min + random() * (plan.delayMs.max - plan.delayMs.min) : 0;
      const roll = random();
      const errorRate = plan.errorRate ?? 0;
      const resetRate = plan.resetRate ?? 0;
      const act = () => {
        if (roll < errorRate) {
          counts.errors++;
          const slowDown = random() < 0.5;
          res.writeHead(slowDown ? 503 : 500, { 'content-type': 'application/xml' });
          res.end(errorBody(slowDown ? 'SlowDown' : 'InternalError'));
          return;
        }
        if (roll < errorRate + resetRate / 2) {
          counts.resetsBefore++;
          req.socket.destroy();
          return;
        }
        const loseResponse = roll < errorRate + resetRate;
        const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          if (loseResponse) {
            answer.resume();
            answer.on('end', () => {
              counts.resetsAfter++;
              req.socket.destroy();
            });
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => req.socket.destroy());
        out.end(body);
      };
      if (delay <= 0) return act();
      counts.delayed++;
      const timer = setTimeout(() => {
        timers.delete(timer);
        act();
      }, delay);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

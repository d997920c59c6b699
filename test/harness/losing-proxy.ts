import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request to DynamoDB as the proxy sees it. */
export interface DynamoRequest {
  /** From `x-amz-target`, e.g. `UpdateItem`. */
  operation: string;
  /** The JSON body as sent. */
  body: string;
  /** The SDK's attempt number (`amz-sdk-request: attempt=N`): 1 for a first send, more for its retries. */
  attempt: number;
}

export interface LosingProxy {
  /** `http://127.0.0.1:PORT`: point a DynamoDB client here. */
  readonly endpoint: string;
  /** Responses dropped so far. */
  readonly lost: number;
  stop(): Promise<void>;
}

const attemptOf = (headers: IncomingHttpHeaders): number => Number(/attempt=(\d+)/.exec(String(headers['amz-sdk-request'] ?? ''))?.[1] ?? 1);

/**
 * An HTTP proxy in front of DynamoDB (Local) that forwards every request and, for the ones `loses`
 * picks, drops the response after DynamoDB applied the request: it resets the client's connection
 * instead of answering. The AWS SDK sees ECONNRESET, a transient error, and re-sends the same
 * request (its standard retry): a lost response, end to end, through the real SDK and adapter.
 */
export async function startLosingProxy(target: string, loses: (r: DynamoRequest) => boolean): Promise<LosingProxy> {
  const upstream = new URL(target);
  let lost = 0;
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const back: Buffer[] = [];
        answer.on('data', (b: Buffer) => back.push(b));
        answer.on('end', () => {
          const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
          if (loses({ operation, body: body.toString(), attempt: attemptOf(req.headers) })) {
            lost++;
            req.socket.destroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(back));
        });
      });
      out.on('error', () => req.socket.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get lost() {
      return lost;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

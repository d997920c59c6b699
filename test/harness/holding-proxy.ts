import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the holding proxy sees it. */
export interface ProxiedRequest {
  method: string;
  /** Path and query, as sent (S3 path-style: `/<bucket>/<key>`). */
  url: string;
  body: string;
}

export interface HoldingProxy {
  /** `http://127.0.0.1:PORT`: point a client (S3 or DynamoDB) here. */
  readonly endpoint: string;
  /** Requests held so far (never forwarded, never answered). */
  readonly held: readonly ProxiedRequest[];
  stop(): Promise<void>;
}

/**
 * An HTTP proxy in front of the local S3 or DynamoDB that forwards every request except the ones
 * `holds` picks: those are never forwarded and never answered, as an upload (or a state write)
 * still in flight when its process dies. A test holds one chunk's PUT while later ones land, then
 * kills the agent: seq K+1 is never stored and K+2 is, deterministically, through the real SDK.
 */
export async function startHoldingProxy(target: string, holds: (r: ProxiedRequest) => boolean): Promise<HoldingProxy> {
  const upstream = new URL(target);
  const held: ProxiedRequest[] = [];
  const waiting: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const seen = { method: req.method ?? '', url: req.url ?? '', body: body.toString() };
      if (holds(seen)) {
        held.push(seen);
        waiting.push(res);
        return;
      }
      const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
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
    held,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of waiting) res.socket?.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

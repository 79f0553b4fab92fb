// A small HTTP proxy in front of the test S3 server that injects faults into the first N
// matching requests and logs every request, so tests can count what a client really sent.
// Loopback only; faults are bounded by their count.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** 503 with an S3 SlowDown error body. */
  | 'slowdown'
  /** 500 InternalError. */
  | 'internal'
  /** 403 AccessDenied (credentials or a policy that refuse the request). */
  | 'forbidden'
  /** Headers and half the body, then a TCP reset. */
  | 'reset'
  /** Headers and half the body, then a clean close (the body ends early). */
  | 'cut'
  /** A well-formed response whose Content-Length and body are only half of the object. */
  | 'truncate'
  /** Headers and half the body, then nothing until the client gives up (at most STALL_MS). */
  | 'stall';

const STALL_MS = 5_000;

export interface ProxiedRequest {
  method: string;
  /** Path-style: first path segment. */
  bucket: string;
  /** The rest of the path, decoded; '' for bucket-level requests. */
  key: string;
  query: URLSearchParams;
  fault: Fault | null;
}

export interface FaultRule {
  fault: Fault;
  /** How many matching requests get the fault. */
  times: number;
  match?: (request: ProxiedRequest) => boolean;
}

export interface FaultProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  inject(rule: FaultRule): void;
  /** Requests to objects (GET with a key) since the last reset. */
  objectGets(): ProxiedRequest[];
  /** Most object GETs open at once since the last reset. */
  peakConcurrentGets(): number;
  resetLog(): void;
  close(): Promise<void>;
}

export const isObjectGet = (r: ProxiedRequest): boolean => r.method === 'GET' && r.key !== '';

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

function describe(req: http.IncomingMessage): Omit<ProxiedRequest, 'fault'> {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const [, bucket = '', ...rest] = url.pathname.split('/');
  return { method: req.method ?? 'GET', bucket, key: decodeURIComponent(rest.join('/')), query: url.searchParams };
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const rules: { rule: FaultRule; left: number }[] = [];
  const requests: ProxiedRequest[] = [];
  let openGets = 0;
  let peakGets = 0;

  const pickFault = (request: Omit<ProxiedRequest, 'fault'>): Fault | null => {
    for (const entry of rules) {
      if (entry.left > 0 && (entry.rule.match ?? isObjectGet)({ ...request, fault: null })) {
        entry.left -= 1;
        return entry.rule.fault;
      }
    }
    return null;
  };

  const server = http.createServer((req, res) => {
    const described = describe(req);
    const fault = pickFault(described);
    requests.push({ ...described, fault });
    if (isObjectGet({ ...described, fault })) {
      peakGets = Math.max(peakGets, ++openGets);
      res.once('close', () => openGets--);
    }
    if (fault === 'slowdown' || fault === 'internal' || fault === 'forbidden') {
      req.resume();
      const [status, code] = fault === 'slowdown' ? [503, 'SlowDown'] : fault === 'forbidden' ? [403, 'AccessDenied'] : [500, 'InternalError'];
      res.writeHead(status, { 'content-type': 'application/xml' }).end(errorXml(code, 'injected by fault-proxy'));
      return;
    }
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        if (!fault || (up.statusCode ?? 500) >= 300) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (chunk: Buffer) => chunks.push(chunk));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          const half = body.subarray(0, Math.floor(body.length / 2));
          if (fault === 'truncate') {
            res.writeHead(up.statusCode ?? 200, { ...up.headers, 'content-length': String(half.length) }).end(half);
            return;
          }
          res.writeHead(up.statusCode ?? 200, up.headers);
          res.write(half, () => {
            if (fault === 'reset') res.socket?.resetAndDestroy();
            else if (fault === 'cut') res.socket?.end();
            else setTimeout(() => res.destroy(), STALL_MS).unref();
          });
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    inject(rule) {
      rules.push({ rule, left: rule.times });
    },
    objectGets: () => requests.filter(isObjectGet),
    peakConcurrentGets: () => peakGets,
    resetLog() {
      requests.length = 0;
      peakGets = openGets;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

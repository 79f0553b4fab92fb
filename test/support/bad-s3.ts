// A misbehaving S3 endpoint on loopback: just enough of the S3 API (path-style ListObjectsV2, GET and HEAD
// of objects) to be a source, and the ways a server can hang or flood a client that real servers (and
// s3rver) will not show on demand: a response that stalls after its headers, a listing that never ends
// (the same continuation token again, or a new one on every page), a body far larger than the listing
// said, a body that trickles at 10 B/s. Bounded: at most MAX_REQUESTS requests (then 503), every stall,
// trickle or flood ends after MAX_HOLD_MS, and close() ends every connection.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const MAX_REQUESTS = 20_000;
const MAX_HOLD_MS = 30_000;
/** What an 'oversize' body really sends: far beyond any listed size, but finite. */
const OVERSIZE_BYTES = 64 * 1024 * 1024;

export type ObjectFault =
  /** Headers (with the right Content-Length), then nothing; a HEAD gets no answer at all. */
  | 'stall'
  /** Content-Length and body far larger than the listing said. */
  | 'oversize'
  /** No Content-Length (chunked), and far more bytes than the listing said. */
  | 'oversize-chunked'
  /** The right Content-Length, then 1 byte every 100 ms (10 B/s). */
  | 'trickle';

export type ListFault =
  /** Headers, then nothing. */
  | 'stall'
  /** IsTruncated with the same NextContinuationToken on every page. */
  | 'repeat-token'
  /** IsTruncated with a new token and one more key on every page: never ends. */
  | 'endless';

export interface BadS3 {
  endpoint: string;
  bucket: string;
  /** Requests received (method and path with query), in order. */
  requests: string[];
  put(key: string, body: string | Buffer): void;
  fault(key: string, fault: ObjectFault | null): void;
  listFault(fault: ListFault | null): void;
  /** Connections still open (a client that gave up closed its own). */
  openConnections(): number;
  close(): Promise<void>;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const etagOf = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;

function listXml(bucket: string, prefix: string, items: { key: string; body: Buffer }[], next: string | null): string {
  const contents = items
    .map((o) => `<Contents><Key>${xml(o.key)}</Key><LastModified>2026-01-05T09:00:00.000Z</LastModified><ETag>${xml(etagOf(o.body))}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`)
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix>` +
    `<KeyCount>${items.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>${next !== null}</IsTruncated>${contents}` +
    (next !== null ? `<NextContinuationToken>${xml(next)}</NextContinuationToken>` : '') +
    '</ListBucketResult>'
  );
}

export async function startBadS3(bucket = 'bad'): Promise<BadS3> {
  const objects = new Map<string, Buffer>();
  const faults = new Map<string, ObjectFault>();
  let listFault: ListFault | null = null;
  const requests: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  let open = 0;

  /** Keeps the response open (headers sent) until the client leaves or MAX_HOLD_MS. */
  const hold = (res: http.ServerResponse) => later(MAX_HOLD_MS, () => res.destroy());

  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    if (requests.length > MAX_REQUESTS) {
      res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>bad-s3 request cap</Message></Error>');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://bad-s3');
    const [, name = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    if (name !== bucket) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>');
      return;
    }
    if (key === '' && url.searchParams.get('list-type') === '2') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const items = [...objects].filter(([k]) => k.startsWith(prefix)).map(([k, body]) => ({ key: k, body }));
      res.setHeader('content-type', 'application/xml');
      if (listFault === 'stall') {
        res.writeHead(200).flushHeaders();
        hold(res);
        return;
      }
      if (listFault === 'repeat-token') return void res.end(listXml(bucket, prefix, items.slice(0, 1), 'token-again'));
      if (listFault === 'endless') {
        const page = Number(url.searchParams.get('continuation-token')?.replace('page-', '') ?? 0) + 1;
        return void res.end(listXml(bucket, prefix, [{ key: `${prefix}endless-${page}.ts`, body: Buffer.from('x') }], `page-${page}`));
      }
      return void res.end(listXml(bucket, prefix, items, null));
    }
    const body = objects.get(key);
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>');
      return;
    }
    const headers = { 'content-type': 'application/octet-stream', etag: etagOf(body), 'last-modified': 'Mon, 05 Jan 2026 09:00:00 GMT' };
    const fault = faults.get(key);
    if (req.method === 'HEAD') {
      // A HEAD has no body to stall in: it stalls before its headers.
      if (fault === 'stall') return void hold(res);
      return void res.writeHead(200, { ...headers, 'content-length': body.length }).end();
    }
    if (fault === 'stall') {
      res.writeHead(200, { ...headers, 'content-length': body.length }).flushHeaders();
      hold(res);
    } else if (fault === 'oversize' || fault === 'oversize-chunked') {
      if (fault === 'oversize') res.writeHead(200, { ...headers, 'content-length': OVERSIZE_BYTES });
      else res.writeHead(200, headers);
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let sent = 0;
      const more = () => {
        while (sent < OVERSIZE_BYTES && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
      hold(res);
    } else if (fault === 'trickle') {
      res.writeHead(200, { ...headers, 'content-length': body.length }).flushHeaders();
      let sent = 0;
      const drip = () => {
        if (res.destroyed) return;
        if (sent >= body.length) return void res.end();
        res.write(body.subarray(sent, ++sent));
        later(100, drip);
      };
      drip();
      hold(res);
    } else {
      res.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
    }
  });
  server.on('connection', (socket) => {
    open++;
    socket.on('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    requests,
    put(key, body) {
      objects.set(key, Buffer.isBuffer(body) ? body : Buffer.from(body));
    },
    fault(key, fault) {
      if (fault) faults.set(key, fault);
      else faults.delete(key);
    },
    listFault(fault) {
      listFault = fault;
    },
    openConnections: () => open,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Receiver for the recording service's notifications: verify, deduplicate, enqueue, answer fast.
// Plain node:http on purpose: one POST route and a health check do not need a framework.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, type JobsOptions } from 'bullmq';
import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { redact } from '../storage/redact.js';
import { addedResult, addToTransaction, prepareMerge } from './enqueue.js';
import { connectionFor, JobDataError, parseJobData, QUEUE_NAME, type MergeJobData, type MergeJobOptions, type RedisSpec } from './job.js';
import {
  checkTemplate,
  isUploadedEvent,
  jobFromNotification,
  NotificationError,
  parseNotification,
  UPLOADED_EVENT,
  type NotificationMapping,
  SIGNATURE_HEADER,
  SIGNATURE_V2_HEADER,
  verifySignature,
} from './notification.js';

export interface NotificationServerOptions {
  redis: RedisSpec;
  port: number;
  /** Default 0.0.0.0. */
  host?: string;
  secret: string;
  /** e.g. `s3://bucket/recordings/{cname}/{sid}`; see TEMPLATE_PLACEHOLDERS. */
  sourceTemplate: string;
  /** Default: `<source>/merged`. */
  outputTemplate?: string;
  mergeOptions?: MergeJobOptions;
  jobOptions?: JobsOptions;
  queueName?: string;
  /** Larger bodies get 413 (default 64 KiB; real notifications are about 1 KiB). */
  maxBodyBytes?: number;
  /** Open connections at most; more are closed as soon as they are accepted (default 256). */
  maxConnections?: number;
  /** How long a noticeId / sid is remembered (default 7 days; the service retries within minutes). */
  dedupeTtlSeconds?: number;
  log?: (line: string) => void;
}

export interface NotificationServer {
  url: string;
  close(): Promise<void>;
}

const DEDUPE_PREFIX = 'recmerge:ncs';
const REDIS_TIMEOUT_MS = 2_000;
/** A request (headers and body) must arrive within this; its headers within HEADERS_TIMEOUT_MS. */
const REQUEST_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 5_000;
const CONNECTION_CHECK_MS = 1_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** After a 413, how much more of the body is read (and dropped) so that the client sees the answer. */
const DRAIN_BYTES = 1024 * 1024;
const DRAIN_MS = 2_000;

/**
 * Stops a request whose body is too large without resetting the connection under the answer: the
 * connection is marked to close, the rest of the body is read and dropped for a little while (a client
 * still sending would otherwise get a reset and lose the 413), then the socket is closed.
 */
function refuseRestOfBody(req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
  let drained = 0;
  const stop = () => {
    clearTimeout(timer);
    req.socket.destroy();
  };
  const timer = setTimeout(stop, DRAIN_MS);
  timer.unref();
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_BYTES) stop();
  });
  req.on('end', () => clearTimeout(timer));
  req.resume();
}

function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `body larger than ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    refuseRestOfBody(req, res);
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // A chunked body has no length to check up front: it is refused when it passes the limit.
        refuseRestOfBody(req, res);
        reject(tooLarge());
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(503, `${what}: Redis did not answer in ${REDIS_TIMEOUT_MS} ms`)), REDIS_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function redisClient(redis: RedisSpec): Redis {
  // Fail fast instead of queueing commands while Redis is down: the service retries, the LB re-checks.
  const common: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true };
  return typeof redis === 'string' ? new Redis(redis, common) : new Redis({ ...(redis as RedisOptions), ...common });
}

/** Fails at startup, not on the first notification, when the templates cannot make a valid job. */
export function checkTemplates(mapping: NotificationMapping): void {
  checkTemplate(mapping.sourceTemplate);
  if (mapping.outputTemplate) checkTemplate(mapping.outputTemplate);
  const sample = { noticeId: 'sample', eventType: UPLOADED_EVENT, payload: { cname: 'channel', sid: '0'.repeat(32), uid: '0', sendts: 0 } };
  parseJobData(jobFromNotification(sample, mapping));
}

export async function startNotificationServer(options: NotificationServerOptions): Promise<NotificationServer> {
  if (!options.secret) throw new NotificationError('a notification secret is required');
  checkTemplates(options);
  const write = options.log ?? ((line: string) => console.error(line));
  const log = (line: string) => write(redact(line));
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const ttl = options.dedupeTtlSeconds ?? 7 * 24 * 3600;

  const redis = redisClient(options.redis);
  redis.on('error', () => undefined); // reported through /healthz and 503s, not as crashes
  // Without an offline queue, commands sent before the first connect would fail: connect first. If Redis
  // is down now, ioredis keeps reconnecting and /healthz says 503 meanwhile.
  await redis.connect().catch((error: Error) => log(`notification server: Redis not reachable yet: ${error.message}`));
  const queue = new Queue(options.queueName ?? QUEUE_NAME, { connection: connectionFor(options.redis) });
  queue.on('error', () => undefined);

  const dedupeKey = (key: string) => `${DEDUPE_PREFIX}:${key}`;

  /**
   * The job and the keys that make later notices of it duplicates are written in one MULTI/EXEC: Redis applies
   * all of it or none. A Redis too slow to answer gets a 503 and the service retries; whenever the EXEC lands,
   * it lands whole, so there is never a key without its job (which used to swallow every retry).
   */
  async function enqueueOnce(job: MergeJobData, noticeKey: string, sidKey: string): Promise<[number, Record<string, unknown>]> {
    // Seen before: answered without writing anything.
    const [notice, sid] = await withTimeout(Promise.all([redis.exists(dedupeKey(noticeKey)), redis.exists(dedupeKey(sidKey))]), 'dedupe');
    if (notice) return [200, { ok: true, duplicate: 'noticeId' }];
    if (sid) return [200, { ok: true, duplicate: 'sid' }];
    const prepared = prepareMerge(job, options.jobOptions);
    const client = await withTimeout(queue.getBackend().client, 'enqueue');
    // BullMQ types its client minimally; it is an ioredis client.
    const multi = client.multi() as unknown as ChainableCommander;
    const now = String(Date.now());
    multi.set(dedupeKey(noticeKey), now, 'EX', ttl, 'NX');
    multi.set(dedupeKey(sidKey), now, 'EX', ttl, 'NX');
    await addToTransaction(queue, multi, prepared);
    const results = await withTimeout(multi.exec(), 'enqueue');
    if (!results) throw new Error('enqueue: transaction discarded');
    for (const [error] of results) if (error) throw error;
    // A notice of this recording that arrived at the same time got in first: the add above was a no-op.
    if (results[0]![1] !== 'OK') return [200, { ok: true, duplicate: 'noticeId' }];
    if (results[1]![1] !== 'OK') return [200, { ok: true, duplicate: 'sid' }];
    const { id, created } = await withTimeout(addedResult(queue, prepared), 'enqueue');
    return [200, { ok: true, jobId: id, created }];
  }

  async function notification(req: IncomingMessage, res: ServerResponse): Promise<[number, Record<string, unknown>]> {
    const raw = await readBody(req, res, limit);
    const signed = verifySignature(
      raw,
      { signature: header(req, SIGNATURE_HEADER), signatureV2: header(req, SIGNATURE_V2_HEADER) },
      options.secret,
    );
    if (!signed) throw new HttpError(401, 'missing or wrong Agora-Signature / Agora-Signature-V2');
    const notice = parseNotification(raw);
    if (!isUploadedEvent(notice)) return [200, { ok: true, ignored: `eventType ${notice.eventType}` }];

    const job = parseJobData(jobFromNotification(notice, options));
    const sid = job.origin!.sid!;
    const answer = await enqueueOnce(job, `notice:${notice.noticeId}`, `sid:${sid}`);
    if (answer[1].jobId) log(`notification ${notice.noticeId}: sid ${sid} -> job ${answer[1].jobId}${answer[1].created ? '' : ' (already known)'}`);
    return answer;
  }

  async function health(): Promise<[number, Record<string, unknown>]> {
    try {
      await withTimeout(redis.ping(), 'ping');
      return [200, { ok: true, redis: 'ok' }];
    } catch (error) {
      return [503, { ok: false, redis: (error as Error).message }];
    }
  }

  // Node checks requestTimeout/headersTimeout only every connectionsCheckingInterval (default 30 s): a client
  // trickling its headers or body was closed after 24-35 s instead of the 10 s promised. Checked every second.
  const server = createServer({ connectionsCheckingInterval: CONNECTION_CHECK_MS, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handle: Promise<[number, Record<string, unknown>]> =
      (req.method === 'GET' || req.method === 'HEAD') && path === '/healthz'
        ? health()
        : req.method === 'POST'
          ? notification(req, res)
          : Promise.resolve([405, { ok: false, error: 'POST notifications, GET /healthz' }]);
    handle
      .then(([status, body]) => send(res, status, body))
      .catch((error: unknown) => {
        const status = error instanceof HttpError ? error.status : error instanceof NotificationError || error instanceof JobDataError ? 400 : 503;
        const message = (error as Error).message;
        if (status !== 401) log(`notification rejected (${status}): ${message}`);
        else log(`notification rejected (401): bad signature from ${req.socket.remoteAddress}`);
        if (!res.headersSent) send(res, status, { ok: false, error: status === 503 ? 'temporarily unavailable' : message });
      });
  });
  server.keepAliveTimeout = 5_000;
  // Connections that send nothing at all are closed too (requestTimeout only runs once a request starts).
  server.setTimeout(15_000, (socket) => socket.destroy());
  // Beyond this, new connections are closed as soon as they are accepted: a flood of idle or slow
  // connections cannot use up the process's file descriptors and memory.
  server.maxConnections = options.maxConnections ?? 256;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${shownHost}:${address.port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await queue.close();
      redis.disconnect();
    },
  };
}

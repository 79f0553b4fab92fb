// Bounds on every S3 request, so that a server that stalls, trickles, floods or lists forever costs a
// bounded time and bounded memory: an idle timeout (no byte for this long, before or after the headers),
// a total deadline per request (a base plus time for the bytes the listing announced at a minimum rate),
// bodies no larger than the listing said, and a page limit for listings. One place for the values.
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface S3Limits {
  /** A request with no byte received for this long (headers or body) is dropped and retried. */
  idleTimeoutMs: number;
  /** Every request must be answered whole within this, plus the time its bytes take at minBytesPerSecond. */
  deadlineMs: number;
  /** The slowest average rate a download may have: a 50 MB slice gets deadlineMs + 500 s. */
  minBytesPerSecond: number;
  /** A listing longer than this many pages (1000 keys each on AWS) stops with an error. */
  maxListPages: number;
}

export const DEFAULT_S3_LIMITS: S3Limits = {
  idleTimeoutMs: 60_000,
  deadlineMs: 120_000,
  minBytesPerSecond: 100_000,
  maxListPages: 10_000,
};

export function s3Limits(given: Partial<S3Limits> = {}): S3Limits {
  const limits = { ...DEFAULT_S3_LIMITS };
  for (const key of Object.keys(DEFAULT_S3_LIMITS) as (keyof S3Limits)[]) {
    const value = given[key];
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}

/** The total time one request for `bytes` (0: a listing, a HEAD) may take. */
export function deadlineFor(limits: S3Limits, bytes = 0): number {
  return limits.deadlineMs + Math.ceil((bytes / limits.minBytesPerSecond) * 1000);
}

/** No bytes arrived for too long while reading a body. */
export class StalledBodyError extends Error {
  override name = 'StalledBodyError';
}

/** A request was not answered whole within its deadline (a stalled or trickling server). */
export class RequestDeadlineError extends Error {
  override name = 'RequestDeadlineError';
}

/** A body larger than the listing said the object is: refused, never buffered or stored. */
export class OversizeBodyError extends Error {
  override name = 'OversizeBodyError';
}

const seconds = (ms: number) => `${ms < 10_000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000)} s`;

/**
 * Runs one request (sending it and reading its body) with a total deadline: `run` gets a signal that
 * aborts at the deadline (or with `signal`); a request cut by the deadline fails with RequestDeadlineError.
 */
export async function withDeadline<T>(ms: number, signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new RequestDeadlineError(`not answered whole within ${seconds(ms)}`)), ms);
  const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    return await run(combined);
  } catch (error) {
    if (deadline.signal.aborted && !signal?.aborted) throw deadline.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Passes bytes through, counting them; fails with StalledBodyError when none arrive for `idleMs`, and with
 * OversizeBodyError as soon as more than `maxBytes` have come.
 */
export function guardedStream(options: { idleMs: number; maxBytes: number; onBytes?: (n: number) => void }): Transform {
  let received = 0;
  const stream: Transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      timer.refresh();
      received += chunk.length;
      if (received > options.maxBytes) return callback(new OversizeBodyError(`body larger than the ${options.maxBytes} bytes listed`));
      options.onBytes?.(chunk.length);
      callback(null, chunk);
    },
    flush(callback) {
      clearTimeout(timer);
      callback();
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
  const timer = setTimeout(() => stream.destroy(new StalledBodyError(`no data for ${seconds(options.idleMs)}`)), options.idleMs);
  timer.unref();
  return stream;
}

/**
 * A small body (a playlist, a manifest) read into memory, refused before reading when its Content-Length
 * says it is larger than `maxBytes`, and cut when it turns out to be.
 */
export async function readBoundedBody(
  body: Readable,
  contentLength: number | undefined,
  options: { idleMs: number; maxBytes: number; signal?: AbortSignal },
): Promise<Buffer> {
  if (contentLength !== undefined && contentLength > options.maxBytes) {
    body.destroy();
    throw new OversizeBodyError(`body of ${contentLength} bytes, larger than the ${options.maxBytes} bytes listed`);
  }
  const chunks: Buffer[] = [];
  await pipeline(
    body,
    guardedStream({ idleMs: options.idleMs, maxBytes: options.maxBytes }),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk);
    },
    options.signal ? { signal: options.signal } : {},
  );
  return Buffer.concat(chunks);
}

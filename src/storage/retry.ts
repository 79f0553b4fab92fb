// Retries with exponential backoff and full jitter (sleep = random(0, min(cap, base * 2^n))).
// Only transient failures are retried; everything else fails on the first attempt with an
// error that says which object and what went wrong.
import { STATUS_CODES } from 'node:http';
import { redact } from './redact.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  random?: () => number;
}

export const DEFAULT_RETRY: Required<Pick<RetryOptions, 'retries' | 'baseDelayMs' | 'maxDelayMs'>> = {
  retries: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
};

/** The body ended before Content-Length bytes arrived. */
export class ShortBodyError extends Error {
  override name = 'ShortBodyError';
  constructor(
    readonly received: number,
    readonly expected: number,
  ) {
    super(`short body: got ${received} of ${expected} bytes`);
  }
}

const RETRYABLE_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ShortBodyError',
  'StalledBodyError',
  'RequestDeadlineError',
]);

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const NETWORK_MESSAGES = /socket hang up|premature close|aborted|ECONNRESET|EPIPE|other side closed|terminated/i;

interface ErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
  cause?: unknown;
}

function shape(error: unknown): ErrorShape {
  return typeof error === 'object' && error !== null ? (error as ErrorShape) : {};
}

export function httpStatus(error: unknown): number | undefined {
  const e = shape(error);
  return e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
}

export function errorCode(error: unknown): string | undefined {
  const e = shape(error);
  return e.Code ?? (typeof e.code === 'string' ? e.code : undefined) ?? (e.name && e.name !== 'Error' ? e.name : undefined);
}

export function isAbortError(error: unknown): boolean {
  const e = shape(error);
  return e.name === 'AbortError' || e.code === 'ABORT_ERR';
}

export function isNotFound(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'NoSuchKey' || code === 'NotFound' || (httpStatus(error) === 404 && code !== 'NoSuchBucket');
}

export function isRetryable(error: unknown): boolean {
  if (isAbortError(error)) return false;
  const e = shape(error);
  const status = httpStatus(error);
  if (status === 429 || (status !== undefined && status >= 500)) return true;
  for (const code of [e.Code, e.code, e.name]) if (code && (RETRYABLE_CODES.has(code) || NETWORK_CODES.has(code))) return true;
  if (status !== undefined && status >= 400) return false;
  if (e.message && NETWORK_MESSAGES.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== error && isRetryable(e.cause);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs;
  const cap = options.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  return Math.floor((options.random ?? Math.random)() * Math.min(cap, base * 2 ** attempt));
}

/** Runs `fn` until it succeeds, fails with a non-retryable error, or retries run out. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? DEFAULT_RETRY.retries;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (attempt >= retries || !isRetryable(error)) throw withAttempts(error, attempt + 1);
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(error, attempt + 1, delay);
      await sleep(delay, options.signal);
    }
  }
}

function withAttempts(error: unknown, attempts: number): unknown {
  if (typeof error === 'object' && error !== null) (error as { attempts?: number }).attempts = attempts;
  return error;
}

/** Answers that say the bucket, the credentials or the endpoint are wrong: no other object would do better. */
const SOURCE_WIDE_CODES = new Set([
  'NoSuchBucket',
  'InvalidBucketName',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AccountProblem',
  'AllAccessDisabled',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
  // No connection at all: the endpoint, not an object.
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  // This machine's disk (the cache), not the object.
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EACCES',
  'EPERM',
  'EIO',
  'EMFILE',
  'ENFILE',
]);

/**
 * True when a failure to fetch one object says nothing can be fetched (a missing bucket, refused
 * credentials, an endpoint that does not answer, a full or read-only cache disk): the run stops. Any other
 * failure (403 or 5xx for that object, a body always cut short, stalled or larger than listed) costs only
 * that object.
 */
export function failsTheSource(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; e = shape(e).cause, depth++) {
    const code = errorCode(e);
    if (code && SOURCE_WIDE_CODES.has(code)) return true;
    if (httpStatus(e) === 301) return true;
  }
  return false;
}

/** A failed storage operation, named by bucket and key, with no credentials in it. */
export class S3OperationError extends Error {
  override name = 'S3OperationError';
  readonly code: string | undefined;
  readonly status: number | undefined;
  readonly attempts: number;
  readonly retryable: boolean;

  constructor(
    readonly operation: string,
    readonly bucket: string,
    readonly key: string | undefined,
    cause: unknown,
  ) {
    const status = httpStatus(cause);
    let code = errorCode(cause);
    let detail: string | undefined = redact(shape(cause).message ?? String(cause));
    if ((code === 'Unknown' || code === 'UnknownError') && status) {
      // HEAD responses have no body, so the SDK cannot say more than the status.
      code = STATUS_CODES[status]?.replace(/\s+/g, '') ?? code;
      detail = undefined;
    }
    const attempts = (shape(cause) as { attempts?: number }).attempts ?? 1;
    const where = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
    const what = [[code, status ? `HTTP ${status}` : undefined].filter(Boolean).join(', '), detail].filter(Boolean).join(': ');
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    super(`${operation} ${where} failed${tries}: ${what}${hint(code, status)}`, { cause });
    this.code = code;
    this.status = status;
    this.attempts = attempts;
    this.retryable = isRetryable(cause);
  }
}

function hint(code: string | undefined, status: number | undefined): string {
  if (code === 'NoSuchBucket') return ' (check the bucket name, --endpoint and --region)';
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || status === 301) return ' (wrong --region or --endpoint for this bucket?)';
  if (status === 403) return ' (check credentials and the bucket policy)';
  return '';
}

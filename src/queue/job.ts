// The merge job as it travels through Redis: plain JSON, validated by whoever enqueues it and again by
// the worker (a job may have been written by another version, or by hand).
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import type { ConnectionOptions, JobsOptions } from 'bullmq';
import { MERGE_MODES, OPTION_CHECKS as LIMITS, PRESETS } from '../core/options.js';
import type { ComposeJobOptions } from './compose-job.js';
import type { MergeOptions, PlanOptions } from '../options.js';
import { redact } from '../storage/redact.js';
import { formatS3Url, parseS3Url } from '../storage/s3-url.js';

export const QUEUE_NAME = 'recmerge-merge';
export const JOB_NAME = 'merge';

/** Merge options that can travel in a job (no callbacks, no clients). */
export interface MergeJobOptions
  extends PlanOptions,
    ComposeJobOptions,
    Pick<MergeOptions, 'preset' | 'endpoint' | 'region' | 'forcePathStyle'> {
  /** Outputs merged in parallel inside one job. */
  concurrency?: number;
  /** Redo outputs that already exist (the job gets a fresh id, see jobIdFor). */
  force?: boolean;
}

/** Where a job came from, kept for operators; `sid` also feeds the job id. */
export interface JobOrigin {
  noticeId?: string;
  sid?: string;
  cname?: string;
  notifyMs?: number;
}

export interface MergeJobData {
  /** Local/shared folder or `s3://bucket/prefix`. */
  source: string;
  /** Local folder or `s3://bucket/prefix`. */
  output: string;
  options?: MergeJobOptions;
  origin?: JobOrigin;
}

/** What is stored in Redis: the request plus who enqueued it when. */
export interface QueuedMergeJob extends MergeJobData {
  meta: { enqueuedAt: string; requestId: string };
}

export class JobDataError extends Error {
  override name = 'JobDataError';
}

type Check = (value: unknown) => string | null;
const isString: Check = (v) => (typeof v === 'string' && v.length > 0 ? null : 'a non-empty string');
const isBool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');

/** The limits of every option a job may carry: the library's own table (core/options.ts), and what only a job has. */
const OPTION_CHECKS: Record<keyof MergeJobOptions, Check> = {
  ...pick(LIMITS, ['size', 'fps', 'uids', 'from', 'duration', 'joinSessions', 'splitGap', 'names', 'transcode', 'maxGapHours', 'maxSpanHours', 'concurrency', 'force', 'gaps', 'maxTiles', 'audioTiles', 'labels', 'align', 'audioFormat', 'loudnorm', 'layout', 'chunk']),
  mode: (v) => (typeof v === 'string' && (MERGE_MODES as readonly string[]).includes(v) ? null : `one of ${MERGE_MODES.join(', ')}`),
  preset: (v) => (typeof v === 'string' && PRESETS.includes(v) ? null : `recmerge or an x264 preset (${PRESETS.join(', ')})`),
  endpoint: isString,
  // The SDK builds host names from the region: only a plain region name, never a host of its own.
  region: (v) => (typeof v === 'string' && /^[a-z0-9][a-z0-9-]{0,62}$/i.test(v) ? null : 'a region name (letters, digits, -)'),
  forcePathStyle: isBool,
  compose: (v) => (v === true || v === 'mix-audio' ? null : "true or 'mix-audio'"),
};

function pick<K extends keyof typeof LIMITS>(table: typeof LIMITS, keys: K[]): Record<K, Check> {
  return Object.fromEntries(keys.map((k) => [k, table[k]])) as Record<K, Check>;
}

function checkLocation(field: string, value: unknown, problems: string[]): void {
  if (typeof value !== 'string' || value.trim() === '') {
    problems.push(`${field}: expected a folder path or s3://bucket/prefix`);
  } else if (value.startsWith('s3://')) {
    try {
      parseS3Url(value);
    } catch (error) {
      problems.push(`${field}: ${(error as Error).message}`);
    }
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !value.startsWith('s3://')) {
    problems.push(`${field}: only local paths and s3:// URLs are supported: ${value}`);
  } else if (value.includes('\0')) {
    problems.push(`${field}: contains a NUL byte`);
  }
}

/** Validates untrusted job data; throws JobDataError listing every problem. */
export function parseJobData(value: unknown): MergeJobData {
  const problems: string[] = [];
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new JobDataError('job data: expected an object');
  const data = value as Record<string, unknown>;
  for (const key of Object.keys(data)) {
    if (!['source', 'output', 'options', 'origin', 'meta'].includes(key)) problems.push(`unknown field "${key}"`);
  }
  checkLocation('source', data.source, problems);
  checkLocation('output', data.output, problems);

  let options: MergeJobOptions | undefined;
  if (data.options !== undefined) {
    if (!data.options || typeof data.options !== 'object' || Array.isArray(data.options)) {
      problems.push('options: expected an object');
    } else {
      options = {};
      for (const [key, v] of Object.entries(data.options)) {
        // Own properties only: `__proto__`, `constructor` or `isPrototypeOf` must not find Object.prototype's.
        const check = Object.hasOwn(OPTION_CHECKS, key) ? OPTION_CHECKS[key as keyof MergeJobOptions] : undefined;
        if (!check) problems.push(`options.${key}: unknown option`);
        else if (v !== undefined) {
          const expected = check(v);
          if (expected) problems.push(`options.${key}: expected ${expected}, got ${JSON.stringify(v)}`);
          else (options as Record<string, unknown>)[key] = v;
        }
      }
    }
  }

  let origin: JobOrigin | undefined;
  if (data.origin !== undefined) {
    const o = data.origin as Record<string, unknown> | null;
    if (!o || typeof o !== 'object') problems.push('origin: expected an object');
    else {
      origin = {};
      for (const key of ['noticeId', 'sid', 'cname'] as const) {
        if (o[key] === undefined) continue;
        if (typeof o[key] === 'string') origin[key] = o[key];
        else problems.push(`origin.${key}: expected a string`);
      }
      if (o.notifyMs !== undefined) {
        if (typeof o.notifyMs === 'number') origin.notifyMs = o.notifyMs;
        else problems.push('origin.notifyMs: expected a number');
      }
    }
  }

  if (options?.compose) {
    // A composite has its own modes and no --gaps cut.
    if (options.mode !== undefined && options.mode !== 'av') problems.push(`options.mode: a compose job takes options.compose: 'mix-audio' instead of mode ${options.mode}`);
    if (options.gaps === 'cut') problems.push('options.gaps: a compose job fills gaps with freeze or black');
  }
  // Problems quote what the job sent: never its credentials.
  if (problems.length > 0) throw new JobDataError(redact(`invalid merge job: ${problems.join('; ')}`));
  const result: MergeJobData = { source: data.source as string, output: data.output as string };
  if (options && Object.keys(options).length > 0) result.options = options;
  if (origin && Object.keys(origin).length > 0) result.origin = origin;
  return result;
}

/** `s3://b/p/` and `s3://b/p` are the same place; local paths become absolute. */
export function normalizeLocation(location: string): string {
  if (location.startsWith('s3://')) return formatS3Url(parseS3Url(location));
  return isAbsolute(location) ? resolve(location) : resolve(process.cwd(), location);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Short stable hash of the options that change what gets written (key order does not matter). */
export function optionsHash(options: MergeJobOptions = {}): string {
  // Parallelism and `force` do not change the output, so they do not make it a different merge.
  const { concurrency: _c, force: _f, ...significant } = options;
  if (significant.uids) significant.uids = [...new Set(significant.uids)].sort();
  return createHash('sha256').update(canonicalJson(significant)).digest('hex').slice(0, 16);
}

/**
 * BullMQ job id: the same recording merged to the same place with the same options always gets the same
 * id, so enqueueing it twice adds one job. `force` asks for a rerun, so it gets a unique id.
 */
export function jobIdFor(data: MergeJobData, now: () => number = Date.now): string {
  const id = `merge-${mergeKey(data)}`;
  return data.options?.force ? `${id}-force-${now().toString(36)}` : id;
}

/** Identity of a merge (what, where to, how): names its job and its manifest. */
export function mergeKey(data: MergeJobData): string {
  const key = [
    normalizeLocation(data.source),
    normalizeLocation(data.output),
    data.origin?.sid ?? '',
    optionsHash(data.options),
  ].join('\n');
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/** Retries only help with transient trouble (storage, Redis, a killed ffmpeg); see worker.ts. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 10_000 },
  // Completed jobs stay a week so that re-enqueueing the same recording is still a no-op.
  removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

/** `redis://…` / `rediss://…` URL or BullMQ connection options. */
export type RedisSpec = string | ConnectionOptions;

export function connectionFor(redis: RedisSpec): ConnectionOptions {
  if (typeof redis !== 'string') return redis;
  if (!/^rediss?:\/\//.test(redis)) throw new JobDataError(`not a redis:// URL: ${redis}`);
  return { url: redis };
}

/** Library options for one job. `outDir`/`upload` are decided by the worker. */
export function toMergeOptions(data: MergeJobData, outDir: string, upload?: string): MergeOptions {
  const merge: MergeOptions = { ...data.options, source: data.source, outDir };
  if (upload) merge.upload = upload;
  return merge;
}

// What a worker accepts from a job. Job data comes from whoever can write to Redis (or reach `serve`),
// so a job names places, and the worker decides: sources and outputs only inside the folders and
// s3:// prefixes it was started with (`--allow`), S3 endpoints only those it was told (`--allow-endpoint`).
// A refused job fails before anything is read, listed, created or contacted.
import { readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { formatS3Url, parseS3Url, type S3Location } from '../storage/s3-url.js';

export class NotAllowedError extends Error {
  override name = 'NotAllowedError';
}

export interface TrustOptions {
  /** Local folders and `s3://bucket/prefix`es that jobs may read from and write to. */
  allow: string[];
  /** S3 endpoints (`https://host[:port][/path]`) a job may name; a job without one uses the worker's default. */
  allowEndpoints?: string[];
}

export interface Trust {
  /**
   * Throws NotAllowedError when `location` (a job's source or output) is outside the allow-list. Returns
   * the place checked: a folder with its links resolved (use that, not the name the job gave), or the
   * normalized s3:// URL.
   */
  checkLocation(field: 'source' | 'output', location: string): Promise<string>;
  /** The endpoint to use for a job's `endpoint` option; throws NotAllowedError for any other endpoint. */
  checkEndpoint(endpoint: string | undefined): string | undefined;
  /**
   * A job's places and endpoint, all checked before anything is read, listed, created or contacted (a merge
   * job's and a chunk job's alike): its source and output as they resolved.
   */
  checkJob(job: { source: string; output: string; options?: { endpoint?: string } }): Promise<{ source: string; output: string }>;
  /** For logs: what this worker accepts. */
  describe(): string;
}

/** `a/./b`, `a/../b` and `a//b` are literal keys on S3 but not on every S3-compatible store: refused. */
function s3Location(url: string): S3Location {
  const location = parseS3Url(url);
  const parts = location.prefix.split('/').slice(0, -1);
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new NotAllowedError(`${url}: '.', '..' or empty parts in an s3:// prefix are not allowed`);
  return location;
}

/** Links followed at most while resolving one path (Linux's own limit). */
const MAX_LINKS = 40;

/**
 * The path with every symbolic link resolved, also a link whose target does not exist yet (the rest of the
 * path may not exist yet either): where a write to it would really land.
 */
async function realLocalPath(path: string, links = 0): Promise<string> {
  let existing = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(existing), ...rest.reverse());
    } catch {
      // A dangling link: mkdir or open through it would create its target, wherever that is.
      const target = await readlink(existing).catch(() => null);
      if (target !== null) {
        if (links >= MAX_LINKS) throw new NotAllowedError(`${path}: too many levels of symbolic links`);
        return realLocalPath(join(resolve(dirname(existing), target), ...rest.reverse()), links + 1);
      }
      const parent = resolve(existing, '..');
      if (parent === existing) return resolve(path);
      rest.push(existing.slice(parent.length).replace(/^[/\\]+/, ''));
      existing = parent;
    }
  }
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

export function normalizeEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new NotAllowedError(`not an endpoint URL: ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new NotAllowedError(`endpoint must be http:// or https://: ${url.protocol}`);
  if (url.username || url.password || url.search || url.hash) throw new NotAllowedError('endpoint must not carry credentials, a query or a fragment');
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

export async function createTrust(options: TrustOptions): Promise<Trust> {
  if (!options.allow || options.allow.length === 0) throw new NotAllowedError('a worker needs an allow-list (--allow <folder-or-s3-prefix...>)');
  const folders: string[] = [];
  const prefixes: S3Location[] = [];
  for (const entry of options.allow) {
    if (entry.toLowerCase().startsWith('s3://')) prefixes.push(s3Location(entry));
    else if (!isAbsolute(entry)) throw new NotAllowedError(`--allow ${entry}: give an absolute folder or s3://bucket/prefix`);
    else folders.push(await realLocalPath(entry));
  }
  const endpoints = new Set((options.allowEndpoints ?? []).map(normalizeEndpoint));

  const trust: Trust = {
    async checkJob(job) {
      const source = await trust.checkLocation('source', job.source);
      const output = await trust.checkLocation('output', job.output);
      trust.checkEndpoint(job.options?.endpoint);
      return { source, output };
    },
    async checkLocation(field, location) {
      const refuse = (why = 'outside the folders and prefixes this worker was started with (--allow)') => {
        throw new NotAllowedError(`${field} not allowed: ${location}: ${why}`);
      };
      if (location.toLowerCase().startsWith('s3://')) {
        let target: S3Location;
        try {
          target = s3Location(location);
        } catch (error) {
          return refuse((error as Error).message);
        }
        if (!prefixes.some((p) => p.bucket === target.bucket && target.prefix.startsWith(p.prefix))) refuse();
        return formatS3Url(target);
      }
      // Relative paths are resolved by whoever enqueues, where they mean something; never here.
      if (!isAbsolute(location)) refuse('a relative path (enqueue resolves paths; a job must name absolute ones)');
      let real: string;
      try {
        real = await realLocalPath(location);
      } catch (error) {
        return refuse((error as Error).message);
      }
      if (!folders.some((root) => inside(root, real))) refuse();
      return real;
    },
    checkEndpoint(endpoint) {
      if (endpoint === undefined) return undefined;
      let normal: string;
      try {
        normal = normalizeEndpoint(endpoint);
      } catch (error) {
        throw new NotAllowedError(`endpoint not allowed: ${(error as Error).message}`);
      }
      if (!endpoints.has(normal)) throw new NotAllowedError(`endpoint not allowed: ${normal} is not one of this worker's --allow-endpoint`);
      return endpoint;
    },
    describe() {
      const places = [...folders, ...prefixes.map((p) => `s3://${p.bucket}/${p.prefix}`)];
      return `allowed: ${places.join(', ')}; endpoints: ${endpoints.size ? [...endpoints].join(', ') : 'the default only'}`;
    },
  };
  return trust;
}

// `s3://bucket/prefix` URLs. The prefix is a folder: normalised to '' (whole bucket) or
// 'a/b/' so that `s3://b/rec1` never matches keys under `rec10/`.

export interface S3Location {
  bucket: string;
  /** '' or ends with '/'. Never starts with '/'. */
  prefix: string;
}

const SCHEME = 's3://';
// Loose on purpose: AWS wants lowercase DNS names, but legacy buckets and several
// S3-compatible stores allow upper case and underscores.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{2,254}$/;

export class S3UrlError extends Error {
  override name = 'S3UrlError';
}

export function parseS3Url(url: string): S3Location {
  if (!url.toLowerCase().startsWith(SCHEME)) {
    throw new S3UrlError(`not an s3:// URL: ${JSON.stringify(url)} (expected s3://bucket/prefix)`);
  }
  const rest = url.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const rawPrefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket.includes('@') || bucket.includes(':')) {
    // Never echo this part: it may hold credentials (s3://KEY:SECRET@bucket).
    throw new S3UrlError('s3:// URL must not contain credentials or a port; use the AWS environment/profile and --endpoint');
  }
  if (!bucket) throw new S3UrlError(`missing bucket name in ${JSON.stringify(url)} (expected s3://bucket/prefix)`);
  if (!BUCKET.test(bucket)) {
    throw new S3UrlError(`invalid bucket name ${JSON.stringify(bucket)}: 3-255 letters, digits, '.', '-' or '_', starting with a letter or digit`);
  }
  if ([...rawPrefix].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new S3UrlError(`control characters in the key prefix of ${JSON.stringify(url)}`);
  return { bucket, prefix: normalizePrefix(rawPrefix) };
}

export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  if (!trimmed) return '';
  return trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

export function formatS3Url(location: S3Location, key = ''): string {
  return `${SCHEME}${location.bucket}/${location.prefix}${key}`;
}

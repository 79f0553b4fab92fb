// The one place that decides what of a message is a secret. Everything a job, a notification or a storage
// error carries passes through redact() before it reaches a log line, a failure reason, a stack trace kept
// in Redis or an error message: URL user info (`s3://KEY:SECRET@bucket`, `https://user:pw@host`), every
// query value of a URL (pre-signed URLs carry their signature there), AWS access key ids, and
// `secret=…`/`token=…`-style pairs and SigV4 `Credential=`/`Signature=` fields.

const MASK = '***';

/** `scheme://` up to the next white space or quote: one URL as it appears in a message. */
const URL_TOKEN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*/gi;

/** A `name=value` (or `name: value`) pair whose value is a secret, wherever it appears. */
const SECRET_PAIR =
  /\b((?:aws_)?(?:secret(?:_?access)?(?:_?key)?|session_?token|access_?token|token|password|passwd|pwd|api_?key|signature|sig|credential|x-amz-(?:credential|signature|security-token))["']?\s*[=:]\s*["']?)[^\s&,;"'#]+/gi;

const ACCESS_KEY_ID = /\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b/g;

function redactUrl(url: string): string {
  const scheme = url.indexOf('://') + 3;
  let rest = url.slice(scheme);
  const at = rest.indexOf('@');
  if (at >= 0) {
    const before = rest.slice(0, at);
    // `user:password@`, or `user@` right after the scheme (no path before the '@'): user info. An '@' in a
    // key further down a path (`s3://b/a@b.ts`) is not.
    if (before.includes(':') || !before.includes('/')) rest = `${MASK}@${rest.slice(at + 1)}`;
  }
  const query = rest.indexOf('?');
  if (query >= 0) {
    const [q, fragment = ''] = rest.slice(query + 1).split(/(?=#)/, 2);
    const masked = q!.split('&').map((pair) => (pair.includes('=') ? `${pair.slice(0, pair.indexOf('='))}=${MASK}` : pair)).join('&');
    rest = `${rest.slice(0, query)}?${masked}${fragment}`;
  }
  return url.slice(0, scheme) + rest;
}

/** The message with every secret it may hold replaced by `***`. Idempotent; safe on any text. */
export function redact(message: string): string {
  return message
    .replace(URL_TOKEN, redactUrl)
    .replace(SECRET_PAIR, `$1${MASK}`)
    .replace(ACCESS_KEY_ID, MASK);
}

/** The same error with its message and stack redacted (in place, so its class and fields stay). */
export function redactError<T>(error: T): T {
  if (error instanceof Error) {
    error.message = redact(error.message);
    if (error.stack) error.stack = redact(error.stack);
  }
  return error;
}

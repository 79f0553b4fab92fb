// The one error type that means "the caller's mistake": its own module, so that any layer (the CLI's
// first steps included) can throw it without loading the library.

/** Bad options or environment: the caller's mistake, not the recording's (the CLI exits 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

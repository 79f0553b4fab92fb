// The errors that mean "the caller's mistake": their own module, so that any layer (the CLI's first steps
// included) can throw them without loading the library.

/** Bad options or environment, or a problem found before any work: the caller's, not the recording's (the CLI exits 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

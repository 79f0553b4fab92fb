// Errors shared by every layer, in their own module so that any of them (the CLI's first steps included) can
// throw or test them without loading the library.

/** Bad options or environment, or a problem found before any work: the caller's, not the recording's (the CLI exits 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A slice whose bytes cannot be read as what its name says (not TS/WebM, truncated, no stream of its track,
 * a parse over its time or memory budget, ...): it costs that slice only (its time becomes a gap, with a
 * warning naming it). The more specific errors of the readers are kinds of it; `cause` carries the original.
 */
export class SliceUnreadableError extends Error {
  override name = 'SliceUnreadableError';
}

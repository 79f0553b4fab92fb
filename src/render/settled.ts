// Work that runs several tools at once (snapshots, chunks, slices read alone) is awaited whole: when one
// fails or the run is cancelled, the others are still running (a cancelled ffmpeg finishes the file it writes),
// and their temporary files are removed only once every one of them has ended.

/** Like Promise.all, but settles only when every promise has: then resolves with all values, or throws the first error. */
export async function allSettledOrThrow<T>(promises: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

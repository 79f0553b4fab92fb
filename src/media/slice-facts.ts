// The facts the plan needs from a slice (see readFacts in slice-read.ts), read in a reader thread (see
// contained.ts). Null when the in-process reader cannot tell or gives up (out of time or memory): the
// caller asks ffprobe then, so nothing that ffprobe could read is lost.
import type { SliceContainer } from '../core/types.js';
import type { SliceProbe } from '../ffmpeg/probe.js';
import { ContainedReadError, readContained } from './contained.js';

/**
 * Reads a slice's facts. `withLength` also measures its length, which reads the whole file: only slices
 * without a playlist entry need it. Rejects only when `signal` aborts (or no reader thread can start).
 */
export async function readSliceFacts(file: string, container: SliceContainer, withLength = false, signal?: AbortSignal): Promise<SliceProbe | null> {
  try {
    const outcome = await readContained({ kind: 'facts', file, container, withLength }, signal);
    return outcome.ok ? (outcome.value as SliceProbe | null) : null;
  } catch (error) {
    if (error instanceof ContainedReadError) return null;
    throw error;
  }
}

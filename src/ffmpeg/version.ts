// What the installed ffmpeg and ffprobe say they are (`-version`), asked once per binary and process: the check
// before any work (pipeline/preflight.ts) and what differs between ffmpeg versions share the one answer.
import { resolveTool, runTool, type Tool } from './runner.js';

/**
 * How a copied video stream gets its MP4 display matrix: ffmpeg 6 and later take the input option
 * `-display_rotation`; before that (Debian 12 ships 5.1) the output's `rotate` stream metadata is turned into
 * the matrix (deprecated in 6, gone in 7).
 */
export type DisplayRotationStyle = 'input-option' | 'metadata';

/** The major version in `ffmpeg -version`'s first line; null for builds that name no release (git: N-…). */
export function ffmpegMajor(versionText: string): number | null {
  const m = /version\s+n?(\d+)\.\d/.exec(versionText.split('\n')[0] ?? '');
  return m ? Number(m[1]) : null;
}

/** A build that names no release is taken as a recent one. */
export const displayRotationStyle = (major: number | null): DisplayRotationStyle => (major !== null && major < 6 ? 'metadata' : 'input-option');

const asked = new Map<string, Promise<string>>();

/** What `<tool> -version` prints, for the binary the runner starts (asked once; a failed question is asked again). */
export function toolVersion(tool: Tool, signal?: AbortSignal): Promise<string> {
  const bin = resolveTool(tool);
  let answer = asked.get(bin);
  if (!answer) {
    answer = runTool(tool, ['-version'], { signal }).then((r) => r.stdout);
    answer.catch(() => asked.delete(bin));
    asked.set(bin, answer);
  }
  return answer;
}

/** The major version of the ffmpeg the runner starts. */
export const installedFfmpegMajor = (signal?: AbortSignal): Promise<number | null> => toolVersion('ffmpeg', signal).then(ffmpegMajor);

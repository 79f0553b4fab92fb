// What the installed ffmpeg can do where versions differ, asked once per binary (`ffmpeg -version`).
import { resolveTool, runFfmpeg } from './runner.js';

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

const asked = new Map<string, Promise<number | null>>();

/** The major version of the ffmpeg the runner starts (cached per binary). */
export function installedFfmpegMajor(signal?: AbortSignal): Promise<number | null> {
  const bin = resolveTool('ffmpeg');
  let answer = asked.get(bin);
  if (!answer) {
    answer = runFfmpeg(['-version'], { signal }).then((r) => ffmpegMajor(r.stdout));
    answer.catch(() => asked.delete(bin));
    asked.set(bin, answer);
  }
  return answer;
}

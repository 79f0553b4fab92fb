// `merge --also-audio` (the service script's `-a`): the .m4a beside each MP4, remuxed from the MP4's own
// audio track (no re-encoding; the recording's audio slices are read once, by the merge).
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { probeOutput } from '../ffmpeg/probe.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import { partialName } from './leftovers.js';

export { audioBesideName } from '../core/output-names.js';

export const audioBesideArgs = (mp4: string, outFile: string) => [
  '-y', '-loglevel', 'error', '-i', mp4, '-map', '0:a:0', '-c', 'copy', '-map_metadata', '0', '-movflags', '+faststart', '-f', 'mp4', outFile,
];

/** Writes `finalFile` (under a temporary name first) from the audio track of `mp4`. */
export async function writeAudioBeside(mp4: string, finalFile: string, signal?: AbortSignal): Promise<string> {
  const partial = partialName(finalFile, randomBytes(4).toString('hex'));
  try {
    await runFfmpeg(audioBesideArgs(mp4, partial), { signal });
    const check = await probeOutput(partial, signal);
    if (!check.hasAudio || !(check.durationMs > 0)) throw new Error(`${finalFile}: the written audio file is empty; it was removed`);
    await rename(partial, finalFile);
    return finalFile;
  } finally {
    await rm(partial, { force: true });
  }
}

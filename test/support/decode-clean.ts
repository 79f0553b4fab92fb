// Every output must decode clean: `ffmpeg -v error -i OUT -f null -` prints nothing (no muxer complaint about
// timestamps, no decoder error). Real-media tests call this on every file they make.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';

const execFileAsync = promisify(execFile);

/** What `ffmpeg -v error` says while decoding every stream of `file` (empty when it decodes clean). */
export async function decodeErrors(file: string): Promise<string> {
  try {
    const { stderr } = await execFileAsync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', file, '-map', '0', '-f', 'null', '-'], { maxBuffer: 1 << 26 });
    return stderr.trim();
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    return (e.stderr ?? '').trim() || e.message;
  }
}

/** Each file decodes without a single error line. */
export async function expectDecodesClean(...files: (string | null | undefined)[]): Promise<void> {
  for (const file of files) {
    expect(file, 'an output file').toBeTruthy();
    expect(await decodeErrors(file!), `ffmpeg -v error -i ${file} -f null -`).toBe('');
  }
}

/** The media files a result names: the output, an .m4a beside it, snapshot pictures. */
const mediaOf = (r: { file: string | null; audioFile?: string; files?: string[] }) =>
  [r.file, r.audioFile, ...(r.files ?? [])].filter((f): f is string => typeof f === 'string' && /\.(mp4|m4a|jpe?g)$/i.test(f));

/**
 * Every media file of every result of a summary decodes clean (failed results have no file and are skipped;
 * the tests that call this hold the results to what they expect on their own).
 */
export async function expectOutputsDecodeClean(summary: { results: { file: string | null; audioFile?: string; files?: string[] }[] }): Promise<void> {
  await expectDecodesClean(...new Set(summary.results.flatMap(mediaOf)));
}

// One snapshot from the user's video as the merge places it: the slices of the run that holds the instant,
// decoded from one that starts on a keyframe (pieceSlices), up to the instant, keeping the last frame at or
// before it (the frame on screen then), turned upright as it was at that instant, as a JPEG. Demuxer seeking
// is not used: in MPEG-TS it lands a keyframe late (or past the end), which would show a later frame.
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import type { SnapshotOutput, SnapshotShot } from '../core/snapshots.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import type { OutputWork, Rendered } from '../pipeline/kind.js';
import { concatList } from '../render/concat.js';
import { withLeadsCut } from '../render/leads.js';
import { pieceSlices } from '../render/pieces.js';
import { uprightFilter } from '../render/picture.js';
import { allSettledOrThrow } from '../render/settled.js';

/** Only frames this close before the instant are encoded (the last one is kept). */
const WINDOW_S = 1;
/** Pictures of one user taken at once. */
const AT_ONCE = 2;
/** How a loss (a picture that could not be taken) is said. */
export const NO_PICTURE = 'no picture at ';
const sec = (s: number) => s.toFixed(6);

/**
 * ffmpeg arguments for one snapshot (pure). `at`: the instant in the input's own time (seconds). `window`:
 * encode only the frames of the last second before the instant (the usual case); 'before': every frame
 * before it (a sparse stream); 'first': the first frame (the instant lies before the first decodable one).
 */
export function snapshotArgs(shot: Pick<SnapshotShot, 'rotation'>, list: string, at: number, outFile: string, attempt: 'window' | 'before' | 'first' = 'window'): string[] {
  const select =
    attempt === 'window' ? [`trim=start=${sec(Math.max(0, at - WINDOW_S))}:end=${sec(at + 0.0005)}`] : attempt === 'before' ? [`trim=end=${sec(at + 0.0005)}`] : [];
  return [
    '-y', '-loglevel', 'error',
    '-f', 'concat', '-safe', '0', '-i', list,
    '-map', '0:v:0', '-vf', [...select, ...uprightFilter(shot.rotation), 'setsar=1'].join(','),
    ...(attempt === 'first' ? ['-frames:v', '1'] : []),
    '-c:v', 'mjpeg', '-q:v', '3', '-update', '1', '-f', 'image2',
    outFile,
  ];
}

const written = (file: string) => stat(file).then((s) => s.size > 0, () => false);

/** Takes every picture of one user; a picture that cannot be taken is a loss, the others are still written. */
export async function renderSnapshots(out: SnapshotOutput, work: Pick<OutputWork, 'paths' | 'workDir' | 'temp' | 'signal' | 'onProgress'>): Promise<Rendered> {
  const paths = await withLeadsCut(out.runs.flatMap((r) => r.slices), work.paths, work.workDir);
  const warnings: string[] = [];
  const losses: string[] = [];
  const done: string[] = [];
  const first = out.shots[0]!.instantMs;
  const limit = pLimit(AT_ONCE);
  let lists = 0;
  await allSettledOrThrow(
    out.shots.map((shot) =>
      limit(async () => {
        work.signal?.throwIfAborted();
        const run = out.runs[shot.run]!;
        const at = shot.early ? run.offsetMs : shot.atMs;
        // Decoded from a slice that starts on a keyframe, as far back as the slices at hand reach.
        let slices = pieceSlices(run.slices, at, at);
        while (slices.length > 1 && !paths.has(slices[0]!.key)) slices = slices.slice(1);
        const file = work.temp(shot.fileName);
        try {
          if (!paths.has(slices[0]!.key)) throw new Error(`${shot.sliceKey}: ${work.paths.has(shot.sliceKey) ? 'not available' : 'could not be read'}`);
          const list = path.join(work.workDir, `shot-${lists++}.ffconcat`);
          await writeFile(list, concatList(slices, paths, true));
          const inputAt = (at - slices[0]!.offsetMs) / 1000;
          const take = async (attempt: 'window' | 'before' | 'first') => {
            await runFfmpeg(snapshotArgs(shot, list, inputAt, file, attempt), { signal: work.signal });
            return written(file);
          };
          let found = !shot.early && ((await take('window')) || (await take('before')));
          if (!found && (await take('first'))) {
            found = true;
            warnings.push(
              `${shot.fileName}: nothing of ${shot.sliceKey} can be decoded up to ${sec((shot.instantMs - (run.slices.find((s) => s.key === shot.sliceKey)?.startMs ?? shot.instantMs)) / 1000)} s into it ` +
                `(it starts mid-GOP${slices[0]!.key === shot.sliceKey ? ' and no slice runs up to it' : ''}); its first decodable picture, a later one, is used`,
            );
          }
          if (!found) throw new Error(`${shot.sliceKey}: no picture could be decoded at ${sec(inputAt)} s`);
          done.push(shot.fileName);
        } catch (error) {
          work.signal?.throwIfAborted();
          losses.push(`${NO_PICTURE}${shot.fileName}: ${(error as Error).message.split('\n')[0]}`);
        } finally {
          work.onProgress(shot.instantMs - first, null);
        }
      }),
    ),
  );
  const order = new Map(out.files.map((f, i) => [f, i]));
  return { written: done.sort((a, b) => order.get(a)! - order.get(b)!), durationMs: out.durationMs, warnings, losses };
}

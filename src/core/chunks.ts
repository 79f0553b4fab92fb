// Long re-encoded outputs in chunks (issue 20.3): which output frames each chunk encodes. Pure.
// Each chunk is its own encode (so it starts on a keyframe of the output's timeline) of whole output
// frames; the chunks are joined by stream copy. A boundary falls on the output frame nearest each multiple
// of the chunk length, moved onto a run's first frame when one is within a tenth of a chunk (a chunk then
// opens fewer inputs).

export interface FrameRange {
  /** Output frames [fromFrame, toFrame). */
  fromFrame: number;
  toFrame: number;
}

/**
 * The chunks of an output of `totalFrames` at `fps`: one (the whole output) when it lasts `chunkS` seconds
 * or less (or chunking is off: `chunkS` undefined); else ranges of about `chunkS` seconds that cover every
 * frame once, in order. `runStarts` are the output frames where runs begin (preferred boundaries).
 */
export function planChunks(totalFrames: number, fps: number, chunkS: number | undefined, runStarts: number[] = []): FrameRange[] {
  const whole = [{ fromFrame: 0, toFrame: totalFrames }];
  if (chunkS === undefined || !(chunkS > 0) || !(fps > 0) || totalFrames <= 0) return whole;
  const size = Math.max(1, Math.round(chunkS * fps));
  if (totalFrames <= size) return whole;
  const count = Math.ceil(totalFrames / size - 1e-9);
  const slack = Math.floor(size / 10);
  const bounds: number[] = [0];
  for (let i = 1; i < count; i++) {
    let at = Math.round((i * totalFrames) / count);
    const near = runStarts.filter((f) => Math.abs(f - at) <= slack).sort((a, b) => Math.abs(a - at) - Math.abs(b - at))[0];
    if (near !== undefined) at = near;
    if (at > bounds.at(-1)! && at < totalFrames) bounds.push(at);
  }
  bounds.push(totalFrames);
  return bounds.slice(0, -1).map((fromFrame, i) => ({ fromFrame, toFrame: bounds[i + 1]! }));
}

// The video encoder of every re-encode (merge's transcode path, compose, and the bench's floor): one place
// for libx264's settings.
import { TUNED_PRESET } from '../core/options.js';

export interface EncodeSettings {
  /** `recmerge` (the tuned settings below) or a libx264 preset (`--preset`). */
  preset: string;
  /** libx264 threads (0 or unset: libx264 picks by the core count). */
  threads?: number;
}

/** Constant quality with a libx264 preset named by the user: libx264's default, what the service's script gets. */
export const X264_CRF = 23;

/**
 * recmerge's own settings (the default, `--preset recmerge`), chosen with the re-encoding bench's quality
 * measure on camera-like content (720p H.264 phones, 360p/540p VP8 senders; README "Re-encoding"):
 * libx264 ultrafast with CABAC, sub-pixel motion refinement (subme 2) and the 8x8/4x4 intra partitions put
 * back, at CRF 26 (without subme 2, VP8 senders' files grew by 20-30 %; hex search and 8x8 inter
 * partitions cost 10-20 % more CPU for under 2 % of size). Against veryfast CRF 23 (the script's setting) it takes about half the CPU or less, with an
 * SSIM as good or better and a file no larger on that content. It keeps ultrafast's choices that cost
 * CPU for little on this measure: no B-frames, no lookahead, and no deblocking (deblocking smoothed the
 * camera's noise away and lowered SSIM by about 0.005).
 */
export const TUNED_X264 = { preset: 'ultrafast', crf: 26, params: 'cabac=1:subme=2:me=dia:partitions=i8x8,i4x4' } as const;

export const x264Args = (enc: EncodeSettings, fps: number): string[] => [
  '-c:v', 'libx264',
  ...(enc.preset === TUNED_PRESET
    ? ['-preset', TUNED_X264.preset, '-x264-params', TUNED_X264.params, '-crf', String(TUNED_X264.crf)]
    : ['-preset', enc.preset, '-crf', String(X264_CRF)]),
  '-pix_fmt', 'yuv420p', '-r', String(fps),
  ...(enc.threads ? ['-threads', String(enc.threads)] : []),
];

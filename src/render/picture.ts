// Pictures: turning a rotated picture upright, fitting it into a box without stretching, keeping a stream
// whose coded size changes inside a slice (VP8) at one size, and moving frames to their output time.
import type { Rotation } from '../core/types.js';

/** Filters that turn a picture that was rotated anticlockwise by `rotation` back upright. */
export function uprightFilter(rotation: Rotation): string[] {
  switch (rotation) {
    case 90:
      return ['transpose=clock'];
    case 180:
      return ['hflip', 'vflip'];
    case 270:
      return ['transpose=cclock'];
    default:
      return [];
  }
}

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
export const sideways = (rotation: Rotation) => rotation === 90 || rotation === 270;

/** The coded size a run's pictures are scaled to so that, once turned upright, they fit the box. */
export function fitSize(run: { width: number; height: number }, rotation: Rotation, box: { width: number; height: number }): { width: number; height: number } {
  const [dw, dh] = sideways(rotation) ? [run.height, run.width] : [run.width, run.height];
  const f = Math.min(box.width / Math.max(1, dw), box.height / Math.max(1, dh));
  const w = Math.min(box.width, even(dw * f));
  const h = Math.min(box.height, even(dh * f));
  return sideways(rotation) ? { width: h, height: w } : { width: w, height: h };
}

/**
 * A stream whose coded size changes inside a slice (WebRTC adapts VP8 to the bandwidth; the service cuts no
 * new slice): every frame brought to the run's size, fitted and padded, never stretched.
 */
export function oneSize(run: { container: string; width: number; height: number }): string[] {
  if (run.container !== 'webm' || !(run.width > 0 && run.height > 0)) return [];
  return [`scale=${run.width}:${run.height}:force_original_aspect_ratio=decrease`, `pad=${run.width}:${run.height}:-1:-1:color=black`];
}

/** Moves every frame by `shiftS` seconds (frames keep their own spacing: nothing is renumbered). */
export const shiftPts = (shiftS: number, filter: 'setpts' | 'asetpts' = 'setpts') => `${filter}=PTS${shiftS >= 0 ? '+' : '-'}${Math.abs(shiftS).toFixed(6)}/TB`;

/**
 * ffmpeg arguments that make a copied stream show upright: its MP4 display matrix turns the pictures, which
 * were turned `rotation` degrees anticlockwise, back clockwise by as much. Both styles take the angle
 * anticlockwise, so the value is the same (checked against ffprobe's side data, ffmpeg's autorotate and
 * Chromium in test/rotation.test.ts). `input`: before the `-i` of the video input; `output`: with the codecs.
 */
export function displayRotationArgs(rotation: Rotation, style: 'input-option' | 'metadata'): { input: string[]; output: string[] } {
  if (rotation === 0) return { input: [], output: [] };
  const anticlockwise = String((360 - rotation) % 360);
  return style === 'input-option' ? { input: ['-display_rotation:v:0', anticlockwise], output: [] } : { input: [], output: ['-metadata:s:v:0', `rotate=${anticlockwise}`] };
}

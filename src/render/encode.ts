// The video encoder of every re-encode (merge's transcode path, compose, and the bench's floor): one place
// for libx264's settings.
export interface EncodeSettings {
  /** libx264 preset (`--preset`). */
  preset: string;
  /** libx264 threads (0 or unset: libx264 picks by the core count). */
  threads?: number;
}

/** Constant quality: libx264's default, what the service's script gets. */
export const X264_CRF = 23;

export const x264Args = (enc: EncodeSettings, fps: number): string[] => [
  '-c:v', 'libx264', '-preset', enc.preset, '-crf', String(X264_CRF), '-pix_fmt', 'yuv420p', '-r', String(fps),
  ...(enc.threads ? ['-threads', String(enc.threads)] : []),
];

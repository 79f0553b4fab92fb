// Loudness levelling (`loudnorm`): the target, and how a voice or a mix gets there. Pure: the measurements
// come from ffmpeg (render/audio.ts runs them), the decisions are made here.
//
// EBU R128 in two passes: the first measures (integrated loudness, true peak, loudness range, gate threshold);
// when the gain that reaches the target keeps the true peak under its ceiling, the second applies ffmpeg's
// `loudnorm` with the measured values and `linear=true` (one constant gain). When it would not (a quiet voice
// with loud peaks), loudnorm's dynamic mode misses the target by several LU (measured: -19.2 LUFS for -16 on
// a -30 dBFS tone with -6 dBFS beeps), so a gain and a true-peak limiter are used instead, the gain found by
// measuring again (the secant method: the limiter makes loudness grow a little less than the gain).

/** EBU R128 for speech (podcasts, streaming): -16 LUFS, true peak at most -1.5 dBTP. */
export const DEFAULT_LOUDNORM_LUFS = -16;
export const LOUDNORM_TRUE_PEAK = -1.5;
/** loudnorm's loudness range target (only its dynamic mode uses it; ours never does). */
export const LOUDNORM_LRA = 20;
/** A result this close to the target is final (the promise is 1 LU). */
export const LOUDNESS_TOLERANCE_LU = 0.3;
/** Measurements of one voice at most (the first included). */
export const MAX_LOUDNESS_PASSES = 5;
/** The gain a voice is ever given, dB (a near-silent voice is not blown up to noise). */
export const MAX_GAIN_DB = 40;
/** Below this a track holds no voice to level (EBU R128's absolute gate is -70). */
export const SILENT_LUFS = -69;

export interface LoudnessTarget {
  lufs: number;
  truePeak: number;
}

/** What the first pass measured (loudnorm's `input_*`). */
export interface Measured {
  /** Integrated loudness, LUFS. */
  i: number;
  /** True peak, dBTP. */
  tp: number;
  lra: number;
  thresh: number;
}

/** How a track is levelled: loudnorm's linear mode with the measured values, or a gain and a true-peak limiter. */
export type Levelling = { kind: 'linear'; measured: Measured } | { kind: 'limited'; gainDb: number };

/** The target an option stands for: `true` is the default, a number its LUFS. */
export const loudnessTarget = (option: boolean | number | undefined): LoudnessTarget | null =>
  option === undefined || option === false ? null : { lufs: option === true ? DEFAULT_LOUDNORM_LUFS : option, truePeak: LOUDNORM_TRUE_PEAK };

/**
 * Headroom under the true-peak ceiling, dB, for what the AAC encoder adds: it overshoots the peaks it is given,
 * more where the audio has sharp edges (a compose mix limited to 0.5 dB under -1.5 came out at -1.1 dBTP once
 * every slice join was placed to 1 ms). Linear gains and the limiter both leave it.
 */
export const ENCODER_HEADROOM_DB = 1;

/** Whether one constant gain reaches the target without the true peak passing its ceiling (less the encoder's headroom). */
export const linearFits = (m: Measured, target: LoudnessTarget) => m.tp + (target.lufs - m.i) <= target.truePeak - ENCODER_HEADROOM_DB;

/** A measured track that holds something to level (silence is left as it is). */
export const hasVoice = (m: Measured | null): m is Measured => m !== null && Number.isFinite(m.i) && m.i > SILENT_LUFS;

/**
 * The next gain to try (limited levelling), from the gains tried so far and the loudness each gave: the
 * first is the plain difference, then the secant through the last two (bounded to [gain tried, MAX_GAIN_DB]).
 * Null when the last one is within the tolerance.
 */
export function nextGain(tries: { gainDb: number; lufs: number }[], target: LoudnessTarget): number | null {
  const last = tries.at(-1);
  if (!last) return null;
  const miss = target.lufs - last.lufs;
  if (Math.abs(miss) <= LOUDNESS_TOLERANCE_LU) return null;
  const before = tries.at(-2);
  let slope = 1;
  if (before && Math.abs(last.gainDb - before.gainDb) > 1e-6) slope = (last.lufs - before.lufs) / (last.gainDb - before.gainDb);
  // A limiter never makes loudness grow faster than the gain, nor shrink with it.
  slope = Math.min(1, Math.max(0.05, slope));
  return Math.min(MAX_GAIN_DB, Math.max(-MAX_GAIN_DB, last.gainDb + miss / slope));
}

/** loudnorm's JSON report (print_format=json) out of ffmpeg's stderr: its last one; null when there is none. */
export function parseLoudnormJson(stderr: string): Measured | null {
  const blocks = [...stderr.matchAll(/\{[^{}]*"input_i"[^{}]*\}/g)];
  const last = blocks.at(-1);
  if (!last) return null;
  let json: Record<string, string>;
  try {
    json = JSON.parse(last[0]) as Record<string, string>;
  } catch {
    return null;
  }
  const value = (k: string) => {
    const v = json[k]?.trim();
    return v === '-inf' ? -Infinity : v === 'inf' ? Infinity : Number(v);
  };
  return { i: value('input_i'), tp: value('input_tp'), lra: value('input_lra'), thresh: value('input_thresh') };
}

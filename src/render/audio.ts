// Audio on the output clock: a run of audio placed so that its first sample lands on its output instant,
// silence before and after it, in the output's rate and layout; and the silent AAC frames the copy path
// fills gaps with. The one rule for merge (runs one after another) and compose (runs mixed).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ENCODER_HEADROOM_DB, hasVoice, linearFits, LOUDNORM_LRA, MAX_LOUDNESS_PASSES, nextGain, parseLoudnormJson, type Levelling, type LoudnessTarget, type Measured } from '../core/loudness.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import { type AdtsConfig, SAMPLE_RATES, splitAdts } from '../media/adts.js';
import type { SilenceSource } from '../media/audio-placer.js';
import { AUDIO_HARD_COMP_MS } from '../core/timeline.js';
import { shiftPts } from './picture.js';

export interface AudioPlacement {
  /** Output sample rate and layout. */
  rate: number;
  layout: 'mono' | 'stereo';
  /** Channels of the run's source (a mono voice in stereo output is put on both channels at full level). */
  channels: number;
  /** Output time (s) of the input's time 0, counted from where this chain's output starts. */
  startS: number;
  /** Exactly this many samples out (silence after the run); none: as long as the run. */
  samples?: number;
}

/**
 * Filters that lay an audio input (its time 0 = its first slice's start) on the output clock: converted to
 * the output rate and layout, moved by whole samples with `adelay` (silence made in small frames: a late
 * joiner's lead never becomes one huge frame) and by the sub-sample rest with its timestamps, gaps inside
 * it filled by aresample, and cut or padded to an exact length.
 */
export function placeAudio(p: AudioPlacement): string[] {
  const leadSamples = p.startS > 0 ? Math.floor(p.startS * p.rate + 1e-6) : 0;
  const restS = p.startS - leadSamples / p.rate;
  return [
    ...(p.channels === 1 && p.layout === 'stereo' ? ['pan=stereo|c0=c0|c1=c0'] : []),
    `aformat=sample_fmts=fltp:sample_rates=${p.rate}:channel_layouts=${p.layout}`,
    shiftPts(restS, 'asetpts'),
    `aresample=async=1:min_hard_comp=${(AUDIO_HARD_COMP_MS / 1000).toFixed(3)}:first_pts=0`,
    ...(leadSamples > 0 ? [`adelay=delays=${leadSamples}S:all=1`] : []),
    ...(p.samples !== undefined ? [`apad=whole_len=${p.samples}`, `atrim=end_sample=${p.samples}`] : []),
  ];
}

/** Silent AAC frames by configuration, shared by the outputs of one run. */
export type SilenceFrames = Map<string, Promise<Buffer>>;

const LAYOUTS = ['', 'mono', 'stereo', '3.0', '4.0', '5.0', '5.1', '7.1'];

/** One AAC frame of digital silence in this configuration (in a folder of its own under `under`: it outlives any one output). */
async function encodeSilentFrame(config: AdtsConfig, under: string, signal?: AbortSignal): Promise<Buffer> {
  const dir = await mkdtemp(path.join(under, 'silence-'));
  try {
    const file = path.join(dir, 'silence.aac');
    const layout = LAYOUTS[config.channelConfig] ?? 'stereo';
    await runFfmpeg(['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `anullsrc=r=${SAMPLE_RATES[config.sampleRateIndex]}:cl=${layout}`,
      '-t', '1', '-c:a', 'aac', '-b:a', '64k', '-f', 'adts', file], { signal });
    const { frames } = splitAdts(await readFile(file));
    // Past the encoder's start-up frames every frame of digital silence is the same; take one.
    const frame = frames[Math.floor(frames.length / 2)];
    if (!frame) throw new Error('ffmpeg produced no silent AAC frame');
    return frame;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The silence source of the copy path: one frame per configuration, encoded once per run (a failure is not kept). */
export function silenceFrom(cache: { dir: string; silence: SilenceFrames }, signal?: AbortSignal): SilenceSource {
  return (config) => {
    const key = `${config.objectType}/${config.sampleRateIndex}/${config.channelConfig}`;
    let frame = cache.silence.get(key);
    if (!frame) {
      frame = encodeSilentFrame(config, cache.dir, signal);
      cache.silence.set(key, frame);
      frame.catch(() => cache.silence.delete(key));
    }
    return frame;
  };
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const dB = (v: number) => v.toFixed(2);

/**
 * The track's own rate and layout, pinned: loudnorm (and the 4x limiter) take 192 kHz, and without a pin
 * ffmpeg's format negotiation moves that rate up the chain, into `apad`/`atrim`/`adelay`, whose lengths are
 * counted in samples (a 7 s track came out 1.76 s long, its beeps gone).
 */
const pinned = (rate: number, layout: 'mono' | 'stereo') => `aformat=sample_fmts=fltp:sample_rates=${rate}:channel_layouts=${layout}`;

/** loudnorm reporting what reaches it (print_format=json): a measuring pass ends with it. */
export const measureLoudnessFilter = (target: LoudnessTarget, rate: number, layout: 'mono' | 'stereo') =>
  `${pinned(rate, layout)},loudnorm=I=${target.lufs}:TP=${target.truePeak}:LRA=${LOUDNORM_LRA}:print_format=json`;

/**
 * The filters that level a track as decided (see core/loudness.ts), back in `rate` and `layout`: loudnorm's
 * linear mode with the measured values, or a gain and a limiter run at 4x the rate (so that it holds the
 * true peak, not only the sample peak); both delay nothing (the limiter's look-ahead is compensated).
 */
export function levelFilters(level: Levelling, target: LoudnessTarget, rate: number, layout: 'mono' | 'stereo'): string[] {
  const back = [`aresample=${rate}`, pinned(rate, layout)];
  if (level.kind === 'linear') {
    const m = level.measured;
    return [
      pinned(rate, layout),
      `loudnorm=I=${target.lufs}:TP=${target.truePeak}:LRA=${LOUDNORM_LRA}:measured_I=${dB(clamp(m.i, -99, 0))}:measured_TP=${dB(clamp(m.tp, -99, 99))}` +
        `:measured_LRA=${dB(clamp(m.lra, 0, 99))}:measured_thresh=${dB(clamp(m.thresh, -99, 0))}:linear=true`,
      ...back,
    ];
  }
  // Under the ceiling by the encoder's headroom: the AAC encoder overshoots the limited peaks a little.
  const limit = clamp(10 ** ((target.truePeak - ENCODER_HEADROOM_DB) / 20), 0.0625, 1);
  return [pinned(rate, layout), `volume=${dB(level.gainDb)}dB`, `aresample=${rate * 4}`, `alimiter=limit=${limit.toFixed(4)}:level=0:latency=1`, ...back];
}

/**
 * Runs a measuring pass: `args` read the track and end in a graph whose output goes through
 * measureLoudnessFilter into `-f null -`. What loudnorm reports (null: nothing measurable came out).
 */
export async function measureLoudness(args: string[], signal?: AbortSignal): Promise<Measured | null> {
  const { stderr } = await runFfmpeg(['-nostats', ...args], { signal });
  return parseLoudnormJson(stderr);
}

/**
 * Decides how a track is levelled: `measure(filters)` runs a measuring pass of the track through `filters`
 * (none: the track as it is). Null when it holds nothing to level (silence).
 */
export async function decideLevelling(target: LoudnessTarget, measure: (filters: string[]) => Promise<Measured | null>, rate: number, layout: 'mono' | 'stereo'): Promise<Levelling | null> {
  const first = await measure([]);
  if (!hasVoice(first)) return null;
  if (linearFits(first, target)) return { kind: 'linear', measured: first };
  const tries: { gainDb: number; lufs: number }[] = [{ gainDb: 0, lufs: first.i }];
  let gain = nextGain(tries, target);
  let best: { gainDb: number; lufs: number } | null = null;
  for (let pass = 1; gain !== null && pass < MAX_LOUDNESS_PASSES; pass++) {
    const level: Levelling = { kind: 'limited', gainDb: gain };
    const m = await measure(levelFilters(level, target, rate, layout));
    if (!hasVoice(m)) break;
    tries.push({ gainDb: gain, lufs: m.i });
    if (!best || Math.abs(m.i - target.lufs) < Math.abs(best.lufs - target.lufs)) best = { gainDb: gain, lufs: m.i };
    gain = nextGain(tries, target);
  }
  return { kind: 'limited', gainDb: (best ?? { gainDb: target.lufs - first.i }).gainDb };
}

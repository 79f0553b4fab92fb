// Inventory -> what `inspect` shows: per track, the spans on the wall clock, gaps, sizes, rotations; the
// recorder modes that made each session.
import { describeModes } from './modes.js';
import { coveredSpans } from './plan.js';
import type { Interval, Inventory, Problem, RecognisedFile, RecorderModeFinding, Rotation, Slice, Track } from './types.js';

export interface TrackSummary {
  media: 'audio' | 'video';
  playlist: string | null;
  otherPlaylists: string[];
  slices: number;
  missingSlices: number;
  containers: string[];
  /**
   * Codec as the container and name imply it (no media is read): TS = H.264/AAC, WebM = VP8 video or
   * Opus audio (the docs do not name it: a guess), raw-mode names carry the video codec.
   */
  codecs: string[];
  /** Raw mode: slices that hold audio AND video (each stands in both tracks). */
  muxedSlices: number;
  spans: Interval[];
  gaps: Interval[];
  sizes: string[];
  rotations: Rotation[];
  restarts: number;
  durationMs: number;
}

export interface UidSummary {
  uid: string;
  failed: string | null;
  startMs: number | null;
  endMs: number | null;
  tracks: TrackSummary[];
  problems: Problem[];
  /** Indexes read besides the track playlists (standard mode's av index, raw mode's index). */
  indexes: string[];
}

export interface SessionSummary {
  sid: string;
  cname: string;
  dir: string;
  /** The recorder mode(s) that made the session, in one line (see describeModes). */
  mode: string;
  modes: RecorderModeFinding[];
  uids: UidSummary[];
}

export interface InventorySummary {
  /** The recorder mode(s) that made the folder, in one line: one mode, or `mix: ...`. */
  mode: string;
  sessions: SessionSummary[];
  ignored: { key: string; reason: string }[];
  /** Recorder files recognised but not merged (the service's own MP4s). */
  recognised: RecognisedFile[];
  problems: Problem[];
}

const CODEC_NAMES: Record<string, string> = { h264: 'H.264', avc: 'H.264', h265: 'H.265', hevc: 'H.265', av1: 'AV1', vp8: 'VP8', vp9: 'VP9' };

/** `orOpus`: the session may be original mode's, which keeps a sender's Opus in TS. */
function impliedCodec(slice: Slice, media: 'audio' | 'video', orOpus: boolean): string {
  if (media === 'audio') return slice.container === 'webm' ? 'Opus' : orOpus ? 'AAC or Opus' : 'AAC';
  if (slice.nameCodec) return CODEC_NAMES[slice.nameCodec] ?? slice.nameCodec;
  return slice.container === 'webm' ? 'VP8' : 'H.264';
}

function summarizeTrack(track: Track, orOpus: boolean): TrackSummary {
  const present = track.slices.filter((s) => s.present);
  const spans = coveredSpans(present);
  const gaps = spans.slice(1).map((s, i) => ({ startMs: spans[i]!.endMs, endMs: s.startMs }));
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const containers = uniq(track.slices.map((s) => s.container));
  return {
    media: track.media,
    playlist: track.playlistKey,
    otherPlaylists: track.otherPlaylists,
    slices: track.slices.length,
    missingSlices: track.slices.length - present.length,
    containers,
    codecs: uniq(track.slices.map((s) => impliedCodec(s, track.media, orOpus))),
    muxedSlices: track.slices.filter((s) => s.muxed).length,
    spans,
    gaps,
    sizes: uniq(track.slices.filter((s) => s.codedSize).map((s) => `${s.codedSize!.width}x${s.codedSize!.height}`)),
    rotations: uniq(track.slices.flatMap((s) => [s.rotation, ...(s.turns ?? []).map((t) => t.rotation)])),
    restarts: track.slices.filter((s) => s.discontinuity).length,
    durationMs: present.reduce((sum, s) => sum + s.durationMs, 0),
  };
}

export function summarizeInventory(inventory: Inventory): InventorySummary {
  return {
    mode: describeModes(inventory.sessions.flatMap((s) => s.modes ?? [])),
    sessions: inventory.sessions.map((session) => ({
      sid: session.sid,
      cname: session.cname,
      dir: session.dir,
      mode: describeModes(session.modes ?? []),
      modes: session.modes ?? [],
      uids: session.uids.map((rec) => {
        const orOpus = (session.modes ?? []).some((m) => m.or?.includes('original') && m.uids.includes(rec.uid));
        const tracks = [rec.audio, rec.video].filter((t): t is Track => t !== null).map((t) => summarizeTrack(t, orOpus));
        const spans = tracks.flatMap((t) => t.spans);
        return {
          uid: rec.uid,
          failed: rec.failed,
          // A reduce, not Math.min(...spans): a spread of 100k+ values overflows the stack.
          startMs: spans.length ? spans.reduce((m, s) => Math.min(m, s.startMs), Infinity) : null,
          endMs: spans.length ? spans.reduce((m, s) => Math.max(m, s.endMs), -Infinity) : null,
          tracks,
          problems: rec.problems,
          indexes: rec.indexes ?? [],
        };
      }),
    })),
    ignored: inventory.ignored,
    recognised: inventory.recognised ?? [],
    problems: inventory.problems,
  };
}

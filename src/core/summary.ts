// Inventory -> what `inspect` shows: per track, the spans on the wall clock, gaps, sizes, rotations.
import { coveredSpans } from './plan.js';
import type { Interval, Inventory, Problem, Rotation, Track } from './types.js';

export interface TrackSummary {
  media: 'audio' | 'video';
  playlist: string | null;
  otherPlaylists: string[];
  slices: number;
  missingSlices: number;
  containers: string[];
  /** Codec as the container implies it (no media is read): TS = H.264/AAC, WebM = VP8. */
  codecs: string[];
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
}

export interface InventorySummary {
  sessions: { sid: string; cname: string; dir: string; uids: UidSummary[] }[];
  ignored: { key: string; reason: string }[];
  problems: Problem[];
}

function summarizeTrack(track: Track): TrackSummary {
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
    codecs: containers.map((c) => (c === 'webm' ? 'VP8' : track.media === 'audio' ? 'AAC' : 'H.264')),
    spans,
    gaps,
    sizes: uniq(track.slices.filter((s) => s.codedSize).map((s) => `${s.codedSize!.width}x${s.codedSize!.height}`)),
    rotations: uniq(track.slices.map((s) => s.rotation)),
    restarts: track.slices.filter((s) => s.discontinuity).length,
    durationMs: present.reduce((sum, s) => sum + s.durationMs, 0),
  };
}

export function summarizeInventory(inventory: Inventory): InventorySummary {
  return {
    sessions: inventory.sessions.map((session) => ({
      sid: session.sid,
      cname: session.cname,
      dir: session.dir,
      uids: session.uids.map((rec) => {
        const tracks = [rec.audio, rec.video].filter((t): t is Track => t !== null).map(summarizeTrack);
        const spans = tracks.flatMap((t) => t.spans);
        return {
          uid: rec.uid,
          failed: rec.failed,
          // A reduce, not Math.min(...spans): a spread of 100k+ values overflows the stack.
          startMs: spans.length ? spans.reduce((m, s) => Math.min(m, s.startMs), Infinity) : null,
          endMs: spans.length ? spans.reduce((m, s) => Math.max(m, s.endMs), -Infinity) : null,
          tracks,
          problems: rec.problems,
        };
      }),
    })),
    ignored: inventory.ignored,
    problems: inventory.problems,
  };
}

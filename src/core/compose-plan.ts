// Inventory (+ probed facts) -> composite plan: per session (or per cname when sessions are joined), one
// output holding every user's video runs and audio runs placed in the composite's output time, the layout
// timeline, and how far each run's last frame is held. Pure; per-user runs come from the merge planner.
import type { ComposePlanOptions } from './options.js';
import { composeEvents, type OutputEvents } from './events.js';
import { composeFileName, eventSidecars, layoutFileName } from './output-names.js';
import { planMerge } from './plan.js';
import { rotationPieces } from './runs.js';
import { coveredSpans, trackMedia } from './timeline.js';
import { speakerLayout } from './speaker.js';
import { computeLayout, frameOf, presenceSpans, type Layout, type LayoutUser } from './layout.js';
import type { AudioRun, Inventory, MediaFacts, OutputPlan, PlacedSlice, Slice, SliceMedia, VideoRun } from './types.js';

export const DEFAULT_COMPOSE_SIZE = { width: 1280, height: 720 };
export const DEFAULT_COMPOSE_FPS = 15;

export type { ComposeMode, ComposePlanOptions } from './options.js';
export { composeFileName };

export interface ComposeUser {
  sid: string;
  uid: string;
}

export interface ComposeVideoRun extends Pick<VideoRun, 'slices' | 'container' | 'rotation' | 'width' | 'height' | 'codec'> {
  /** Index into `users`. */
  user: number;
  /** Output frames the run covers: its first frame, and the frame its picture (or its held last frame) ends. */
  startFrame: number;
  endFrame: number;
}

export interface ComposeAudioRun extends Pick<AudioRun, 'slices' | 'channels' | 'sampleRate'> {
  user: number;
  /** Composite output time of the run's first sample. */
  offsetMs: number;
  endMs: number;
}

export interface ComposeOutput {
  /** `<sid>` or, with joined sessions, `<cname>`. */
  id: string;
  sid: string | null;
  sids: string[];
  cname: string;
  kind: 'av' | 'audio';
  fileName: string;
  /** The composite, and its layout sidecar when it has a picture. */
  files: string[];
  /** A composite is everyone's: no single user. */
  uid: null;
  originMs: number;
  durationMs: number;
  width: number;
  height: number;
  fps: number;
  gapMode: 'freeze' | 'black';
  /** Users in join order. */
  users: ComposeUser[];
  layout: Layout | null;
  videoRuns: ComposeVideoRun[];
  audioRuns: ComposeAudioRun[];
  /** Keys of every slice the output reads. */
  inputs: string[];
  /** UIDs of the session that could not be read and are left out. */
  leftOut: string[];
  warnings: string[];
  /** What happened to each user on the composite's clock (the events sidecar). */
  events: OutputEvents;
}

export interface ComposePlan {
  outputs: ComposeOutput[];
  failures: { sid: string; cname: string; error: string }[];
}

const shift = (slices: PlacedSlice[], deltaMs: number): PlacedSlice[] => slices.map((s) => ({ ...s, offsetMs: s.offsetMs + deltaMs }));

/**
 * Wall-clock spans of a user's listed slices (those that never reached storage included: their time is a
 * gap, not an absence), each as long as its media when it was measured.
 */
function listedSpans(inventory: Inventory, sids: string[], uid: string, kind: 'audio' | 'video', media: Map<string, SliceMedia> | undefined): { startMs: number; endMs: number }[] {
  const slices: Slice[] = [];
  const own = trackMedia(media, kind);
  for (const session of inventory.sessions) {
    if (!sids.includes(session.sid)) continue;
    const rec = session.uids.find((u) => u.uid === uid);
    const track = rec && !rec.failed ? rec[kind] : null;
    if (!track || !track.slices.some((s) => s.present)) continue;
    for (const s of track.slices) {
      const lengthMs = own?.get(s.key)?.lengthMs;
      slices.push(lengthMs !== undefined && lengthMs > 0 ? { ...s, durationMs: lengthMs } : s);
    }
  }
  return presenceSpans(coveredSpans(slices));
}

/**
 * The composite plan. `media` holds what reading the slices measured (see SliceMedia and planMerge):
 * without it slices last what #EXTINF says, which is what a plan before any download can tell.
 */
export function planCompose(inventory: Inventory, facts: Map<string, MediaFacts>, options: ComposePlanOptions = {}, media?: Map<string, SliceMedia>): ComposePlan {
  const kind = options.mode === 'mix-audio' ? 'audio' : 'av';
  const fps = options.fps ?? DEFAULT_COMPOSE_FPS;
  const { width, height } = options.size ?? DEFAULT_COMPOSE_SIZE;
  const gapMode = options.gaps ?? 'freeze';
  const perUser = planMerge(inventory, facts, {
    mode: kind === 'audio' ? 'audio' : 'av',
    gaps: 'freeze',
    joinSessions: options.joinSessions,
    uids: options.uids,
  }, media);

  const groups = new Map<string, OutputPlan[]>();
  for (const o of perUser.outputs) {
    const key = o.sid ?? o.cname;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  // Users that cannot be merged are left out of their composite, with the reason.
  const leftOut = new Map<string, string[]>();
  const leftOutUids = new Map<string, string[]>();
  for (const f of perUser.failures) {
    const key = options.joinSessions ? f.cname : f.sid;
    leftOut.set(key, [...(leftOut.get(key) ?? []), `uid ${f.uid} is left out: ${f.error.replace(/^uid \d+: /, '')}`]);
    leftOutUids.set(key, [...(leftOutUids.get(key) ?? []), f.uid]);
  }

  const outputs: ComposeOutput[] = [];
  const failures: ComposePlan['failures'] = [];
  for (const [key, plans] of groups) {
    const first = plans[0]!;
    const originMs = Math.min(...plans.map((p) => p.originMs));
    const endMs = Math.max(...plans.map((p) => p.originMs + p.durationMs));
    const sids = [...new Set(plans.flatMap((p) => p.sids))];
    const warnings = [...(leftOut.get(key) ?? [])];
    for (const p of plans) warnings.push(...p.warnings.filter((w) => !w.startsWith('video is re-encoded')).map((w) => `uid ${p.uid}: ${w}`));

    const layoutUsers: LayoutUser[] = plans.map((p) => ({
      sid: p.sids.join('+'),
      uid: p.uid,
      video: kind === 'audio' || !p.video ? [] : listedSpans(inventory, p.sids, p.uid, 'video', media),
      audio: p.audio ? listedSpans(inventory, p.sids, p.uid, 'audio', media) : [],
    }));
    const grid = kind === 'audio' ? null : computeLayout(layoutUsers, originMs, endMs, { width, height, fps, maxTiles: options.maxTiles, audioTiles: options.audioTiles });
    // One big tile: held by the first user shown until the audio levels are measured (see core/speaker.ts).
    const layout = grid && options.layout && options.layout !== 'grid' ? speakerLayout(grid, options.layout) : grid;
    // Users in join order (the layout's order; audio-only users after, by first instant).
    const firstInstant = (i: number) => Math.min(plans[i]!.originMs, ...layoutUsers[i]!.video.map((s) => s.startMs));
    const order = plans.map((_, i) => i).sort((a, b) => firstInstant(a) - firstInstant(b) || a - b);
    const users: ComposeUser[] = order.map((i) => ({ sid: layoutUsers[i]!.sid, uid: plans[i]!.uid }));

    const videoRuns: ComposeVideoRun[] = [];
    const audioRuns: ComposeAudioRun[] = [];
    const shown = new Set(layout?.intervals.flatMap((i) => i.tiles.map((t) => `${t.sid}/${t.uid}`)) ?? []);
    order.forEach((planIndex, user) => {
      const p = plans[planIndex]!;
      const delta = p.originMs - originMs;
      if (p.video && layout && shown.has(`${users[user]!.sid}/${p.uid}`)) {
        const spans = layoutUsers[planIndex]!.video;
        const runs = p.video.runs;
        runs.forEach((r, k) => {
          const startWall = originMs + r.offsetMs + delta;
          const endWall = originMs + r.endMs + delta;
          let holdWall = endWall;
          if (gapMode === 'freeze') {
            // The last frame stays up to the next run, or to the end of the presence the run ends in.
            const presence = spans.find((s) => s.startMs <= endWall && endWall <= s.endMs + 1);
            const next = runs[k + 1];
            const nextWall = next ? originMs + next.offsetMs + delta : Infinity;
            if (presence) holdWall = Math.max(endWall, Math.min(presence.endMs, nextWall));
          }
          const runStart = Math.max(0, frameOf(startWall, originMs, fps));
          const runEnd = Math.min(layout.frames, frameOf(holdWall, originMs, fps));
          // A phone turned during the run: one piece per rotation (see rotationPieces), each from its turn (on the
          // output frame nearest the turn's instant) to the next; the stream decodes on across the turns.
          const pieces = rotationPieces(r);
          pieces.forEach((piece, i) => {
            const frame = (ms: number) => Math.min(runEnd, Math.max(runStart, frameOf(originMs + ms + delta, originMs, fps)));
            const startFrame = i === 0 ? runStart : frame(piece.fromMs);
            const endFrame = piece.toMs === null ? runEnd : frame(piece.toMs);
            if (endFrame <= startFrame) return;
            videoRuns.push({
              user,
              slices: shift(r.slices, delta),
              container: r.container,
              rotation: piece.rotation,
              width: r.width,
              height: r.height,
              codec: r.codec,
              startFrame,
              endFrame,
            });
          });
        });
      }
      for (const r of p.audio?.runs ?? []) {
        audioRuns.push({ user, slices: shift(r.slices, delta), channels: r.channels, sampleRate: r.sampleRate, offsetMs: r.offsetMs + delta, endMs: r.endMs + delta });
      }
    });

    if (kind === 'audio' && audioRuns.length === 0) {
      failures.push({ sid: first.sid ?? sids.join('+'), cname: first.cname, error: 'no audio to mix' });
      continue;
    }
    const inputs = [...new Set([...videoRuns, ...audioRuns].flatMap((r) => r.slices.map((s) => s.key)))];
    const fileName = composeFileName(first.sid, first.cname, kind);
    outputs.push({
      id: key,
      sid: first.sid,
      sids,
      cname: first.cname,
      kind,
      fileName,
      files: [fileName, ...(layout ? [layoutFileName(fileName)] : []), ...eventSidecars(fileName)],
      uid: null,
      originMs,
      durationMs: layout ? layout.durationMs : endMs - originMs,
      width,
      height,
      fps,
      gapMode,
      users,
      layout,
      videoRuns,
      audioRuns,
      inputs,
      leftOut: leftOutUids.get(key) ?? [],
      warnings,
      events: composeEvents(
        order.map((i) => ({ uid: plans[i]!.uid, plan: plans[i]! })),
        originMs,
        layout ? layout.durationMs : endMs - originMs,
        gapMode,
        layout !== null,
      ),
    });
  }
  // Sessions where nobody could be merged at all.
  for (const [key, reasons] of leftOut) {
    if (groups.has(key)) continue;
    const session = inventory.sessions.find((s) => (options.joinSessions ? s.cname : s.sid) === key);
    failures.push({ sid: options.joinSessions ? '' : key, cname: session?.cname ?? key, error: `nothing to compose: ${reasons.join('; ')}` });
  }
  return { outputs, failures };
}

// Snapshot plan (the service script's `-c`): per user, one picture every N seconds of wall clock while the
// user's video is present, on the same instants for every user of a session (its first instant + k * N).
// Each picture comes from the user's video as the merge places it (planMerge: measured slices, undecodable
// leads, turns inside slices): the run that holds the instant, turned as it is at that instant. Pure.
import type { SnapshotPlanOptions } from './options.js';
import { snapshotFileName } from './output-names.js';
import { planMerge } from './plan.js';
import { rotationAt } from './runs.js';
import { coveredSpans, minOf, trackMedia } from './timeline.js';
import type { Inventory, MediaFacts, Rotation, SliceMedia, VideoRun } from './types.js';

export { snapshotFileName };

export interface SnapshotShot {
  /** Wall clock of the instant shown. */
  instantMs: number;
  fileName: string;
  /** The instant in the user's output time (its video as merged). */
  atMs: number;
  /** Index of the run (of `runs`) whose picture it is. */
  run: number;
  /** The instant lies before that run's first decodable picture (it starts mid-GOP): its first picture, a later one, stands in. */
  early: boolean;
  rotation: Rotation;
  /** The slice that holds the instant. */
  sliceKey: string;
}

export interface SnapshotOutput {
  /** `<sid>/<uid>`. */
  id: string;
  sid: string;
  cname: string;
  uid: string;
  /** Wall-clock instant of the user's output time 0. */
  originMs: number;
  runs: VideoRun[];
  shots: SnapshotShot[];
  /** The pictures, in time order. */
  files: string[];
  /** From the first instant to the last (for progress). */
  durationMs: number;
  /** Keys of the slices the pictures are decoded from (those holding an instant, and the one before each). */
  inputs: string[];
  warnings: string[];
}

export interface SnapshotPlan {
  outputs: SnapshotOutput[];
  /** Users that cannot be read, with why. */
  failures: { sid: string; cname: string; uid: string; error: string }[];
}

/**
 * Instants are the session's first instant (any user, audio or video) plus whole multiples of `every`, so
 * the pictures of different users are taken at the same instants; or exactly the instants `at`. Time no
 * present slice of the user's video holds gets no picture.
 */
export function planSnapshots(inventory: Inventory, facts: Map<string, MediaFacts>, options: SnapshotPlanOptions, media?: Map<string, SliceMedia>): SnapshotPlan {
  const everyMs = Math.round((options.every ?? 1) * 1000);
  const at = options.at ? [...new Set(options.at)].sort((a, b) => a - b) : null;
  /** The instants in [fromMs, toMs). */
  const instants = function* (origin: number, fromMs: number, toMs: number) {
    if (at) yield* at.filter((t) => t >= fromMs && t < toMs);
    else for (let k = Math.max(0, Math.ceil((fromMs - origin) / everyMs)); origin + k * everyMs < toMs; k++) yield origin + k * everyMs;
  };
  const merged = planMerge(inventory, facts, { mode: 'video', uids: options.uids }, media);
  const outputs: SnapshotOutput[] = [];
  const failures: SnapshotPlan['failures'] = merged.failures.filter((f) => !/no video to merge/.test(f.error));
  for (const session of inventory.sessions) {
    const present = session.uids.flatMap((u) => (u.failed ? [] : [...(u.audio?.slices ?? []), ...(u.video?.slices ?? [])].filter((s) => s.present)));
    if (present.length === 0) continue;
    const origin = minOf(present.map((s) => s.startMs));
    for (const plan of merged.outputs.filter((o) => o.sid === session.sid && o.video)) {
      const runs = plan.video!.runs;
      const rec = session.uids.find((u) => u.uid === plan.uid)!;
      const slices = (rec.video?.slices ?? []).filter((s) => s.present);
      const byKey = new Map(runs.flatMap((r) => r.slices.map((s) => [s.key, s] as const)));
      const shots: SnapshotShot[] = [];
      const inputs = new Set<string>();
      const videoMedia = trackMedia(media, 'video');
      // Where the user's video is present (by its slices, measured where they were read): instants there get a picture.
      for (const span of coveredSpans(slices.map((s) => ({ ...s, durationMs: videoMedia?.get(s.key)?.lengthMs || s.durationMs })))) {
        for (const instantMs of instants(origin, span.startMs, span.endMs)) {
          const atMs = instantMs - plan.originMs;
          // The run holding the instant, or (inside an undecodable lead) the run that starts after it.
          let run = runs.findIndex((r) => r.offsetMs <= atMs && atMs < r.endMs);
          const early = run < 0;
          if (early) run = runs.findIndex((r) => r.offsetMs > atMs && r.offsetMs <= span.endMs - plan.originMs);
          if (run < 0) continue;
          const r = runs[run]!;
          const at = early ? r.offsetMs : atMs;
          const holder = r.slices.findIndex((s) => s.offsetMs <= at && at < s.offsetMs + s.slotMs);
          const slice = r.slices[Math.max(0, holder)]!;
          inputs.add(slice.key);
          const before = r.slices[holder - 1];
          if (before) inputs.add(before.key);
          shots.push({ instantMs, fileName: snapshotFileName(session.sid, session.cname, plan.uid, instantMs), atMs, run, early, rotation: rotationAt(r, at), sliceKey: slice.key });
        }
      }
      if (shots.length === 0) continue;
      // A slice read only for a picture (not measured yet) is read with the slices before it that its run needs.
      for (const key of [...inputs]) if (!byKey.has(key)) inputs.delete(key);
      outputs.push({
        id: `${session.sid}/${plan.uid}`,
        sid: session.sid,
        cname: session.cname,
        uid: plan.uid,
        originMs: plan.originMs,
        runs,
        shots,
        files: shots.map((s) => s.fileName),
        durationMs: Math.max(1, shots.at(-1)!.instantMs - shots[0]!.instantMs),
        inputs: [...inputs],
        // About the merged file, not the pictures (a picture that stands in for an undecodable instant says so itself).
        warnings: plan.warnings.filter((w) => !w.startsWith('video is re-encoded') && !/^video: .* cannot be decoded \(the stream starts without a keyframe/.test(w)),
      });
    }
  }
  return { outputs, failures };
}

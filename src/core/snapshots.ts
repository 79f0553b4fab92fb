// Snapshot plan (the service script's `-c`): per user, one picture every N seconds of wall clock while
// the user's video is present, taken from the slice that holds that instant. Pure.
import { snapshotFileName } from './output-names.js';
import { placeSlices } from './timeline.js';
import type { Inventory, Rotation } from './types.js';

export interface SnapshotShot {
  sid: string;
  cname: string;
  uid: string;
  /** Wall clock of the instant shown. */
  instantMs: number;
  sliceKey: string;
  /** Position of the instant inside the slice (ms from its first frame). */
  offsetMs: number;
  rotation: Rotation;
  fileName: string;
  /**
   * The slice before, when it runs up to this one: decoded first when nothing of this slice can be decoded
   * up to the instant (a slice cut mid-GOP needs the frames before it). `ms`: how long it holds (by the names).
   */
  previous?: { key: string; ms: number };
}

export interface SnapshotPlan {
  shots: SnapshotShot[];
  /** Users that cannot be read, with why. */
  failures: { sid: string; cname: string; uid: string; error: string }[];
}

export { snapshotFileName };

/**
 * Instants are the session's first instant (any user, audio or video) plus whole multiples of `everyMs`,
 * so the pictures of different users are taken at the same instants. A slice holds the time from its
 * start up to the next slice (or its own end); time no present slice holds gets no picture.
 */
export function planSnapshots(inventory: Inventory, everyMs: number, uids?: string[]): SnapshotPlan {
  const wanted = uids && uids.length > 0 ? new Set(uids) : null;
  const shots: SnapshotShot[] = [];
  const failures: SnapshotPlan['failures'] = [];
  for (const session of inventory.sessions) {
    const all = session.uids.flatMap((u) => (u.failed ? [] : [...(u.audio?.slices ?? []), ...(u.video?.slices ?? [])].filter((s) => s.present)));
    if (all.length === 0) continue;
    const origin = Math.min(...all.map((s) => s.startMs));
    for (const rec of session.uids) {
      if (wanted && !wanted.has(rec.uid)) continue;
      if (rec.failed) {
        failures.push({ sid: session.sid, cname: session.cname, uid: rec.uid, error: rec.failed });
        continue;
      }
      const slices = (rec.video?.slices ?? []).filter((s) => s.present);
      const bySlice = new Map(slices.map((s) => [s.key, s]));
      const placed = placeSlices(slices, 0, []);
      placed.forEach((p, i) => {
        const slice = bySlice.get(p.key)!;
        const end = p.startMs + p.slotMs;
        const before = placed[i - 1];
        const previous = before && before.startMs + before.slotMs === p.startMs ? { key: before.key, ms: p.startMs - before.startMs } : undefined;
        for (let k = Math.max(0, Math.ceil((p.startMs - origin) / everyMs)); origin + k * everyMs < end; k++) {
          const instantMs = origin + k * everyMs;
          shots.push({
            sid: session.sid,
            cname: session.cname,
            uid: rec.uid,
            instantMs,
            sliceKey: p.key,
            offsetMs: instantMs - p.startMs,
            rotation: slice.rotation,
            fileName: snapshotFileName(session.sid, session.cname, rec.uid, instantMs),
            ...(previous ? { previous } : {}),
          });
        }
      });
    }
  }
  return { shots, failures };
}

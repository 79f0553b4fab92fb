// `snapshots` as the run pipeline sees it: per user, the JPEGs of every instant of the session's grid while
// the user's video is present. Planned by planSnapshots (on the merge's placement), rendered by renderSnapshots.
import os from 'node:os';
import { UsageError } from '../core/errors.js';
import { planSnapshots, type SnapshotOutput } from '../core/snapshots.js';
import type { SnapshotOptions, SnapshotUserResult } from '../options.js';
import type { Kind } from '../pipeline/kind.js';
import { outputLabels } from '../pipeline/labels.js';
import { renderSnapshots } from './render.js';

export const snapshotsKind: Kind<SnapshotOptions, SnapshotOutput, SnapshotUserResult> = {
  name: 'snapshots',
  phase: 'snapshot',
  check(options) {
    if ((options.every === undefined) === (options.at === undefined)) throw new UsageError('give either every (seconds between two pictures) or at (the instants of the pictures)');
  },
  scope: (options) => ({ mode: 'video', uids: options.uids }),
  concurrency: () => os.availableParallelism(),
  plan: (inventory, facts, options, media) => planSnapshots(inventory, facts, { every: options.every, at: options.at, uids: options.uids }, media),
  labels: outputLabels,
  // The instants (and so every picture) follow from the interval.
  byteOptions: (options) => ({ every: options.every, at: options.at?.length }),
  render: (out, work) => renderSnapshots(out, work),
  result(out, base, { files, uploaded }) {
    return { ...base, uid: out.uid, files, ...(uploaded.length > 0 ? { uploaded } : {}) };
  },
  failure(f) {
    return { id: `${f.sid}/${f.uid}`, sid: f.sid, cname: f.cname, uid: f.uid ?? '', file: null, files: [], durationMs: 0, skipped: false, warnings: [], error: f.error, elapsedMs: 0 };
  },
};

// What made each output, kept in a small sidecar beside it (`.<file name>.recmerge.json`): the options that
// change its bytes, the inputs' names, sizes and ETags, and recmerge's version. A rerun skips an output only
// when its record matches what would make it now; otherwise it is made again, and the result says why.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { OutputPlan } from '../core/types.js';
import type { MergeOptions } from '../options.js';
import type { RecordingSource, StoredObject } from '../storage/source.js';
import { partialName } from './leftovers.js';

const FORMAT = 1;

export interface OutputRecord {
  format: number;
  recmerge: string;
  /** Options that change the bytes of this output (undefined ones left out). */
  options: Record<string, unknown>;
  /** Every input the plan read for it: key, size, and ETag (S3) or modification time (local folder). */
  inputs: { key: string; size: number | null; etag: string | null; modifiedMs?: number }[];
  /** The output as it was written: a file changed since then is made again. */
  output: { size: number };
}

/** What a rerun decides for an existing output. */
export type RerunDecision = { skip: true } | { skip: false; reason: string | null };

let version: string | undefined;
export function recmergeVersion(): string {
  version ??= (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  return version;
}

export const recordPath = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.recmerge.json`);

/** The options of a merge that change an output's bytes (not: uids, concurrency, storage, force, ...). */
export function byteOptions(options: MergeOptions, plan: OutputPlan): Record<string, unknown> {
  const picked: Record<string, unknown> = {
    mode: options.mode ?? 'av',
    gaps: options.gaps ?? 'freeze',
    size: options.size ? `${options.size.width}x${options.size.height}` : undefined,
    fps: options.fps,
    from: options.from,
    duration: options.duration,
    joinSessions: options.joinSessions || undefined,
    splitGap: options.mode === 'segments' ? (options.splitGap ?? 15) : undefined,
    transcode: options.transcode || undefined,
    // The preset matters only where something is re-encoded.
    preset: plan.video?.path === 'transcode' || plan.audio?.path === 'transcode' || options.transcode ? (options.preset ?? 'veryfast') : undefined,
  };
  return Object.fromEntries(Object.entries(picked).filter(([, v]) => v !== undefined));
}

/** Keeps what a source listed (sizes and ETags of every key), for the records. */
export function rememberListing(source: RecordingSource): { source: RecordingSource; listed: Map<string, StoredObject> } {
  const listed = new Map<string, StoredObject>();
  const wrapped: RecordingSource = {
    description: source.description,
    list: async (signal) => {
      const objects = await source.list(signal);
      for (const o of objects) listed.set(o.key, o);
      return objects;
    },
    readText: (key, signal) => source.readText(key, signal),
    materialize: (keys, options) => source.materialize(keys, options),
    dispose: () => source.dispose(),
  };
  return { source: wrapped, listed };
}

export function expectedRecord(plan: OutputPlan, options: MergeOptions, listed: Map<string, StoredObject>): Omit<OutputRecord, 'output'> {
  return {
    format: FORMAT,
    recmerge: recmergeVersion(),
    options: byteOptions(options, plan),
    inputs: [...plan.inputs].sort().map((key) => {
      const o = listed.get(key);
      return { key, size: o?.size ?? null, etag: o?.etag ?? null, ...(o?.etag === undefined && o?.modifiedMs !== undefined ? { modifiedMs: o.modifiedMs } : {}) };
    }),
  };
}

async function readRecord(file: string): Promise<OutputRecord | null> {
  try {
    return JSON.parse(await readFile(recordPath(file), 'utf8')) as OutputRecord;
  } catch {
    return null;
  }
}

const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));

/** Why the recorded output differs from what would be made now (null: it does not). */
export function difference(old: Omit<OutputRecord, 'output'>, now: Omit<OutputRecord, 'output'>): string | null {
  const why: string[] = [];
  const keys = [...new Set([...Object.keys(old.options ?? {}), ...Object.keys(now.options)])].sort();
  const changed = keys.filter((k) => JSON.stringify(old.options?.[k]) !== JSON.stringify(now.options[k]));
  if (changed.length) why.push(`options changed (${changed.map((k) => `${k} ${show(old.options?.[k])} → ${show(now.options[k])}`).join(', ')})`);
  const before = new Map((old.inputs ?? []).map((i) => [i.key, JSON.stringify(i)]));
  const added = now.inputs.filter((i) => !before.has(i.key)).length;
  const removed = [...before.keys()].filter((k) => !now.inputs.some((i) => i.key === k)).length;
  const modified = now.inputs.filter((i) => before.has(i.key) && before.get(i.key) !== JSON.stringify(i)).length;
  if (added || removed || modified) {
    why.push(`inputs changed (${[added && `${added} new`, removed && `${removed} gone`, modified && `${modified} with another size, ETag or modification time`].filter(Boolean).join(', ')})`);
  }
  if (old.recmerge !== now.recmerge) why.push(`made by recmerge ${old.recmerge}, this is ${now.recmerge}`);
  if (old.format !== now.format) why.push('record format changed');
  return why.length ? why.join('; ') : null;
}

/** Skip an existing output only when its record matches; otherwise say why it is made again. */
export async function rerunDecision(file: string, expected: Omit<OutputRecord, 'output'>): Promise<RerunDecision> {
  const info = await stat(file).catch(() => null);
  if (!info?.isFile() || info.size === 0) return { skip: false, reason: null };
  const old = await readRecord(file);
  if (!old) return { skip: false, reason: 'remade: the existing file has no record of what made it' };
  if (old.output?.size !== info.size) return { skip: false, reason: 'remade: the existing file was changed after recmerge wrote it' };
  const why = difference(old, expected);
  return why ? { skip: false, reason: `remade: ${why}` } : { skip: true };
}

/** Writes the record beside a finished output (to a temporary name, then renamed). */
export async function writeRecord(file: string, expected: Omit<OutputRecord, 'output'>): Promise<void> {
  const { size } = await stat(file);
  const record: OutputRecord = { ...expected, output: { size } };
  const target = recordPath(file);
  // A name of its own: two runs writing the same record at once must not share (and remove) one temporary file.
  const temp = partialName(target, randomBytes(4).toString('hex'));
  try {
    await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(temp, target);
  } finally {
    await rm(temp, { force: true });
  }
}

/** Removes the record of an output that is about to be made again (a crash in between leaves no stale match). */
export async function forgetRecord(file: string): Promise<void> {
  await rm(recordPath(file), { force: true });
}

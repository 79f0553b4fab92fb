// What made each output, kept in a small sidecar beside it (`.<file name>.recmerge.json`): the options that
// change its bytes, the inputs' names, sizes and ETags, recmerge's version, and every file it wrote (an MP4
// and its sidecars, a user's pictures). A rerun skips an output only when its record matches what would make
// it now and its files are as written; otherwise it is made again, and the result says why. The same for
// every command.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { RecordingSource, StoredObject } from '../storage/source.js';
import { partialName } from './leftovers.js';

const FORMAT = 2;

export interface OutputRecord {
  format: number;
  recmerge: string;
  /** Options that change the bytes of this output (undefined ones left out). */
  options: Record<string, unknown>;
  /** Every input the plan read for it: key, size, and ETag (S3) or modification time (local folder). */
  inputs: { key: string; size: number | null; etag: string | null; modifiedMs?: number }[];
  /** The files as they were written (names relative to the record's folder): one changed since then is made again. */
  outputs: { name: string; size: number }[];
}

/** What a rerun decides for an existing output. */
export type RerunDecision = { skip: true } | { skip: false; reason: string | null };

let version: string | undefined;
export function recmergeVersion(): string {
  version ??= (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  return version;
}

export const recordPath = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.recmerge.json`);

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

export type ExpectedRecord = Omit<OutputRecord, 'outputs'>;

/** The record an output would get now: `options` are those that change its bytes (see Kind.byteOptions). */
export function expectedRecord(inputs: string[], options: Record<string, unknown>, listed: Map<string, StoredObject>): ExpectedRecord {
  return {
    format: FORMAT,
    recmerge: recmergeVersion(),
    options: Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    inputs: [...inputs].sort().map((key) => {
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
export function difference(old: ExpectedRecord, now: ExpectedRecord): string | null {
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

/** Skip an existing output only when its record matches and its files are as written; otherwise say why it is made again. */
export async function rerunDecision(files: string[], expected: ExpectedRecord): Promise<RerunDecision> {
  const main = files[0]!;
  const info = await stat(main).catch(() => null);
  if (!info?.isFile() || info.size === 0) return { skip: false, reason: null };
  const old = await readRecord(main);
  if (!old || !Array.isArray(old.outputs)) return { skip: false, reason: 'remade: the existing file has no record of what made it' };
  const why = difference(old, expected);
  if (why) return { skip: false, reason: `remade: ${why}` };
  const written = new Map(old.outputs.map((o) => [o.name, o.size]));
  for (const file of files) {
    const now = await stat(file).catch(() => null);
    const size = written.get(path.relative(path.dirname(main), file));
    if (!now?.isFile()) return { skip: false, reason: `remade: ${path.basename(file)} is missing` };
    if (size !== now.size) return { skip: false, reason: `remade: ${file === main ? 'the existing file' : path.basename(file)} was changed after recmerge wrote it` };
  }
  return { skip: true };
}

/** Writes the record beside a finished output (to a temporary name created exclusively, then renamed). */
export async function writeRecord(main: string, files: string[], expected: ExpectedRecord): Promise<void> {
  const outputs = await Promise.all(files.map(async (file) => ({ name: path.relative(path.dirname(main), file), size: (await stat(file)).size })));
  const record: OutputRecord = { ...expected, outputs };
  const target = recordPath(main);
  // A name of its own: two runs writing the same record at once must not share (and remove) one temporary file.
  const temp = partialName(target, randomBytes(4).toString('hex'));
  try {
    await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
    await rename(temp, target);
  } finally {
    await rm(temp, { force: true });
  }
}

/** Removes the record of an output that is about to be made again (a crash in between leaves no stale match). */
export async function forgetRecord(file: string): Promise<void> {
  await rm(recordPath(file), { force: true });
}

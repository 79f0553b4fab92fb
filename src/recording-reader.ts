// Reading a recording from its source: key names and playlists into an inventory, then the few media
// facts the plan needs (probing), and checks of the slices before they go into ffmpeg.
import pLimit from 'p-limit';
import { SliceUnreadableError } from './core/errors.js';
import { buildInventory, classifyKeys, markMissing, type PlaylistText } from './core/inventory.js';
import { keysToProbe } from './core/plan.js';
import type { Inventory, MediaFacts, MediaKind, OutputPlan, SliceContainer, SliceMedia } from './core/types.js';
import { FfmpegError } from './ffmpeg/runner.js';
import { measureSlice } from './media/slice-media.js';
import { probeSlice, type SliceProbe } from './ffmpeg/probe.js';
import { readSliceFacts } from './media/slice-facts.js';
import type { PlanOptions } from './core/options.js';
import type { RecordingSource } from './storage/source.js';

const PLAYLIST_READS = 8;
/** ffprobe processes or slice measurements at once. */
const PROBES = 4;
/** In-process fact reads at once (a few kilobytes each). */
const FACT_READS = 16;
const MAX_PLAYLIST_BYTES = 16 * 1024 * 1024;

export interface ReadInventory {
  inventory: Inventory;
  rebuild: (durations: Map<string, number>) => Inventory;
}

export async function readInventory(source: RecordingSource, signal?: AbortSignal): Promise<ReadInventory> {
  const objects = await source.list(signal);
  const classified = classifyKeys(objects.map((o) => o.key));
  const sizes = new Map(objects.map((o) => [o.key, o.size]));
  const limit = pLimit(PLAYLIST_READS);
  const texts = new Map<string, PlaylistText>();
  // Track playlists, and the other recorder modes' indexes (av.m3u8/.mpd, raw mode's index and MPD).
  await Promise.all(
    [...classified.playlists, ...classified.indexes].map((p) =>
      limit(async () => {
        const size = sizes.get(p.key) ?? 0;
        if (size > MAX_PLAYLIST_BYTES) {
          texts.set(p.key, new Error(`${p.type === 'playlist' ? 'playlist' : 'index'} is too large (${size} bytes)`));
          return;
        }
        try {
          texts.set(p.key, await source.readText(p.key, signal));
        } catch (error) {
          signal?.throwIfAborted();
          texts.set(p.key, error instanceof Error ? error : new Error(String(error)));
        }
      }),
    ),
  );
  return { inventory: buildInventory(classified, texts), rebuild: (durations) => buildInventory(classified, texts, durations) };
}

/**
 * Reads the facts of every file (key -> what it found, or why it could not): in-process first (see
 * readSliceFacts), with ffprobe for what that cannot read, a few processes at a time.
 */
async function probeEach(paths: Map<string, string>, withLength: boolean, signal?: AbortSignal): Promise<Map<string, SliceProbe | Error>> {
  const reads = pLimit(FACT_READS);
  const probes = pLimit(PROBES);
  const found = new Map<string, SliceProbe | Error>();
  await Promise.all(
    [...paths].map(([key, file]) =>
      reads(async () => {
        signal?.throwIfAborted();
        const read = await readSliceFacts(file, key.endsWith('.webm') ? 'webm' : 'ts', withLength, signal);
        if (read) return found.set(key, read);
        return probes(async () => {
          try {
            found.set(key, await probeSlice(file, signal));
          } catch (error) {
            signal?.throwIfAborted();
            found.set(key, error instanceof Error ? error : new Error(String(error)));
          }
        });
      }),
    ),
  );
  return found;
}

/**
 * Measures the slices that must be placed without a playlist entry, and places them. Their probes
 * (facts included) are returned so that probeFacts does not probe them again.
 */
export async function measureUnlisted(
  source: RecordingSource,
  read: ReadInventory,
  signal?: AbortSignal,
): Promise<{ inventory: Inventory; probed: Map<string, SliceProbe> }> {
  const probed = new Map<string, SliceProbe>();
  const keys = read.inventory.unmeasured;
  if (keys.length === 0) return { inventory: read.inventory, probed };
  const { paths } = await source.materialize(keys, { signal });
  const durations = new Map<string, number>();
  for (const [key, found] of await probeEach(paths, true, signal)) {
    if (found instanceof Error) continue;
    probed.set(key, found);
    if (found.durationMs !== null) durations.set(key, found.durationMs);
  }
  const inventory = read.rebuild(durations);
  for (const key of inventory.unmeasured) {
    inventory.problems.push({ severity: 'error', key, message: 'not in any playlist and its length cannot be measured; left out' });
  }
  return { inventory, probed };
}

/** Probes the slices the plan depends on; unreadable ones become absent (their time a gap). */
export async function probeFacts(
  source: RecordingSource,
  measured: { inventory: Inventory; probed: Map<string, SliceProbe> },
  options: PlanOptions,
  signal?: AbortSignal,
): Promise<{ inventory: Inventory; facts: Map<string, MediaFacts> }> {
  const { inventory } = measured;
  const facts = new Map<string, MediaFacts>([...measured.probed].map(([key, p]) => [key, p.facts]));
  const bad = new Map<string, string>();
  let current = inventory;
  // A slice that cannot be probed is dropped, and the slice after it may then start a new run: repeat.
  for (let round = 0; round < 5; round++) {
    const keys = keysToProbe(current, options).filter((k) => !facts.has(k) && !bad.has(k));
    if (keys.length === 0) break;
    const { paths, missing } = await source.materialize(keys, { signal });
    for (const [key, reason] of missing) bad.set(key, reason);
    for (const [key, found] of await probeEach(paths, false, signal)) {
      if (found instanceof Error) bad.set(key, `cannot be read (${found.message.split('\n')[0]})`);
      else facts.set(key, found.facts);
    }
    current = markMissing(inventory, bad);
  }
  return { inventory: current, facts };
}

/** What a slice file is: its container, the track it feeds, and whether it feeds both (raw mode's muxed A+V). */
export interface SliceKind {
  container: SliceContainer;
  media: MediaKind;
  muxed?: true;
}

/** Slice key -> container and track kind, for every slice of the inventory (built once per run). */
export function containersOf(inventory: Inventory): Map<string, SliceKind> {
  const containers = new Map<string, SliceKind>();
  for (const rec of inventory.sessions.flatMap((s) => s.uids)) {
    for (const slice of rec.audio?.slices ?? []) containers.set(slice.key, { container: slice.container, media: 'audio' });
    for (const slice of rec.video?.slices ?? []) containers.set(slice.key, { container: slice.container, media: 'video', ...(slice.muxed ? { muxed: true as const } : {}) });
  }
  return containers;
}

/**
 * A muxed slice (raw mode) measured once per stream: each track places its own stream. One stream that
 * cannot be used leaves the other (SliceMedia.streams); with neither the slice is refused as usual.
 */
async function measureMuxed(file: string, container: SliceContainer, signal?: AbortSignal): Promise<SliceMedia> {
  const read = async (media: MediaKind) => {
    try {
      return await measureSlice(file, container, media, signal);
    } catch (error) {
      signal?.throwIfAborted();
      if (!(error instanceof SliceUnreadableError || error instanceof FfmpegError)) throw error;
      return { error };
    }
  };
  const video = await read('video');
  const audio = await read('audio');
  if ('error' in video && 'error' in audio) throw video.error;
  const own = (m: SliceMedia | { error: Error }) => ('error' in m ? { unusable: m.error.message } : m);
  return { ...('error' in video ? (audio as SliceMedia) : video), streams: { audio: own(audio), video: own(video) } };
}

/**
 * Checks and measures the slices an output reads: a file that is not the container its name says, or
 * lacks the stream its track needs, moves from `paths` to `missing` (its time becomes a gap); the others
 * are measured (see SliceMedia), a few at a time.
 */
export async function measureSlices(
  paths: Map<string, string>,
  missing: Map<string, string>,
  plan: Pick<OutputPlan, 'inputs'>,
  containers: Map<string, SliceKind>,
  signal?: AbortSignal,
): Promise<Map<string, SliceMedia>> {
  const media = new Map<string, SliceMedia>();
  const limit = pLimit(PROBES);
  await Promise.all(
    plan.inputs.map((key) =>
      limit(async () => {
        const file = paths.get(key);
        const kind = containers.get(key);
        if (!file || !kind) return;
        try {
          // Checks the container too (empty, truncated, not TS/WebM): such a slice is missing, not fatal.
          media.set(key, kind.muxed ? await measureMuxed(file, kind.container, signal) : await measureSlice(file, kind.container, kind.media, signal));
        } catch (error) {
          signal?.throwIfAborted();
          if (!(error instanceof SliceUnreadableError || error instanceof FfmpegError)) throw error;
          paths.delete(key);
          missing.set(key, error.message);
        }
      }),
    ),
  );
  return media;
}

// `compose` as the run pipeline sees it: one composite per session (a grid of everyone present, all audio
// mixed) with its layout sidecar, or one mixed .m4a (mode 'mix-audio'). Planned by planCompose, rendered by
// renderCompose.
import { planCompose, type ComposeOutput } from '../core/compose-plan.js';
import { UsageError } from '../core/errors.js';
import { DEFAULT_MAX_TILES } from '../core/layout.js';
import { loudnessTarget } from '../core/loudness.js';
import { COMPOSE_MODES } from '../core/options.js';
import { layoutFileName } from '../core/output-names.js';
import type { ComposeOptions, ComposeResult } from '../options.js';
import type { Kind } from '../pipeline/kind.js';
import { outputLabels } from '../pipeline/labels.js';
import { renderCompose } from './render.js';
import { DEFAULT_PRESET } from '../core/options.js';

const planOptions = (options: ComposeOptions) => ({
  mode: options.mode,
  size: options.size,
  fps: options.fps,
  gaps: options.gaps,
  maxTiles: options.maxTiles ?? DEFAULT_MAX_TILES,
  audioTiles: options.audioTiles,
  joinSessions: options.joinSessions,
  uids: options.uids,
  layout: options.layout,
});

export const composeKind: Kind<ComposeOptions, ComposeOutput, ComposeResult> = {
  name: 'compose',
  phase: 'compose',
  check(options) {
    if (options.mode !== undefined && !COMPOSE_MODES.includes(options.mode)) throw new UsageError(`mode must be av or mix-audio for a composite (got ${options.mode})`);
    if (options.gaps !== undefined && options.gaps !== 'freeze' && options.gaps !== 'black') throw new UsageError(`gaps must be freeze or black for a composite (got ${options.gaps})`);
  },
  // The plan's facts come from every user's tracks (only their audio for the mix).
  scope: (options) => ({ mode: options.mode === 'mix-audio' ? 'audio' : 'av', uids: options.uids, joinSessions: options.joinSessions }),
  // One composite already uses every core.
  concurrency: () => 1,
  plan(inventory, facts, options, media) {
    const plan = planCompose(inventory, facts, planOptions(options), media);
    return { outputs: plan.outputs, failures: plan.failures.map((f) => ({ ...f, uid: null })) };
  },
  labels: outputLabels,
  byteOptions(options) {
    return {
      mode: options.mode ?? 'av',
      size: options.size ? `${options.size.width}x${options.size.height}` : undefined,
      fps: options.fps,
      gaps: options.gaps ?? 'freeze',
      maxTiles: options.maxTiles,
      audioTiles: options.audioTiles || undefined,
      joinSessions: options.joinSessions || undefined,
      // Names drawn into the tiles are part of the picture.
      labels: options.labels || undefined,
      preset: options.preset ?? DEFAULT_PRESET,
      loudnorm: loudnessTarget(options.loudnorm)?.lufs,
      layout: options.layout && options.layout !== 'grid' ? options.layout : undefined,
    };
  },
  events: (out) => out.events,
  async render(out, work, options) {
    const labels = options.labels ? new Map(Object.entries(options.labels === true ? {} : options.labels)) : null;
    const { written, media, warnings } = await renderCompose(out, { ...work, labels, maxPiecesPerPass: options.maxPiecesPerPass, loudness: loudnessTarget(options.loudnorm) });
    return { written, media, durationMs: out.durationMs, warnings };
  },
  result(out, base, { rendered, uploaded }) {
    const layout = out.layout ? out.files.find((f) => f === layoutFileName(out.files[0]!)) : undefined;
    return {
      ...base,
      kind: out.kind,
      layoutFile: base.file && layout && rendered?.written.includes(layout) !== false ? base.file.slice(0, base.file.length - out.files[0]!.length) + layout : null,
      ...(uploaded.length > 0 ? { uploaded } : {}),
      uids: out.users.map((u) => u.uid),
      leftOut: out.leftOut,
    };
  },
  failure(f, options) {
    return {
      id: f.sid || f.cname,
      sid: f.sid || null,
      cname: f.cname,
      kind: options.mode === 'mix-audio' ? 'audio' : 'av',
      file: null,
      layoutFile: null,
      durationMs: 0,
      uids: [],
      leftOut: [],
      skipped: false,
      warnings: [],
      error: f.error,
      elapsedMs: 0,
    };
  },
  // A composite with users left out is not the whole class.
  whole: (r) => r.leftOut.length === 0,
};

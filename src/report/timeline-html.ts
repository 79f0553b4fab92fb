// Inventory -> a self-contained HTML page (inline CSS, no script, no network) that draws the recording on
// the wall clock: one row per UID of each session, an audio and a video lane with bars where media is,
// gaps, slices the playlist lists but storage lacks, restarts, size and rotation changes, and every
// problem pinned at the instant it is about. Pure: no I/O.
import { describeModes } from '../core/modes.js';
import { coveredSpans } from '../core/plan.js';
import type { Interval, Inventory, Problem, Slice, Track, UidRecording } from '../core/types.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC');
const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const secs = (ms: number) => (ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${((ms % 60_000) / 1000).toFixed(0)} s` : `${(ms / 1000).toFixed(1)} s`);
const endOf = (s: Slice) => s.startMs + s.durationMs;

interface Marker {
  kind: 'restart' | 'size' | 'rotation' | 'problem';
  atMs: number;
  text: string;
}

/** The wall-clock range every row shares (a loop: nothing per slice is spread into arguments). */
function range(inventory: Inventory): Interval | null {
  let startMs = Infinity;
  let endMs = -Infinity;
  for (const u of inventory.sessions.flatMap((s) => s.uids)) {
    for (const slice of [...(u.audio?.slices ?? []), ...(u.video?.slices ?? [])]) {
      startMs = Math.min(startMs, slice.startMs);
      endMs = Math.max(endMs, endOf(slice));
    }
  }
  return startMs <= endMs ? { startMs, endMs } : null;
}

/** Index of the first of `sorted` (ascending) that is >= `x`. */
function lowerBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Axis ticks at a round step giving about 8 ticks. */
function ticks(r: Interval): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400].map((s) => s * 1000);
  const step = steps.find((s) => (r.endMs - r.startMs) / s <= 8) ?? 21_600_000;
  const out: number[] = [];
  for (let t = Math.ceil(r.startMs / step) * step; t <= r.endMs; t += step) out.push(t);
  return out;
}

function trackMarkers(track: Track): Marker[] {
  const markers: Marker[] = [];
  let previous: Slice | null = null;
  // The rotation in force after the previous slice's turns (a turn inside a slice is drawn at its instant).
  let rotation = track.slices[0]?.rotation ?? 0;
  const turn = (atMs: number, to: number) => {
    if (to !== rotation) markers.push({ kind: 'rotation', atMs, text: `rotation ${rotation}° → ${to}° at ${iso(atMs)}` });
    rotation = to as typeof rotation;
  };
  for (const s of track.slices) {
    if (previous && s.discontinuity) markers.push({ kind: 'restart', atMs: s.startMs, text: `restart (discontinuity) at ${iso(s.startMs)}: ${s.key}` });
    if (track.media === 'video' && previous) {
      const a = previous.codedSize;
      const b = s.codedSize;
      if (a && b && (a.width !== b.width || a.height !== b.height)) markers.push({ kind: 'size', atMs: s.startMs, text: `size ${a.width}x${a.height} → ${b.width}x${b.height} at ${iso(s.startMs)}` });
    }
    if (track.media === 'video') {
      turn(s.startMs, s.rotation);
      for (const t of s.turns ?? []) turn(t.atMs, t.rotation);
    }
    previous = s;
  }
  // A track event within a second of a restart already drawn is that restart (looked up, not scanned: a
  // track may restart at every slice).
  const restarts = markers.filter((m) => m.kind === 'restart').map((m) => m.atMs).sort((a, b) => a - b);
  const nearRestart = (t: number) => {
    const i = lowerBound(restarts, t);
    return (i < restarts.length && restarts[i]! - t < 1000) || (i > 0 && t - restarts[i - 1]! < 1000);
  };
  for (const e of track.events) {
    if (e.timeMs !== null && !nearRestart(e.timeMs) && e.timeMs > (track.slices[0]?.startMs ?? 0) + 1000) {
      markers.push({ kind: 'restart', atMs: e.timeMs, text: `track event ${e.event} ${e.trackType} at ${iso(e.timeMs)}` });
    }
  }
  return markers;
}

type Pinned = { atMs: number | null; media: 'audio' | 'video' | null };

/**
 * Where a UID's problems happen: the start of the slice a problem names, else the start of the UID's
 * media. The keys are looked up in a map built once (a UID may have a problem for every slice).
 */
function problemTimes(rec: UidRecording): (p: Problem) => Pinned {
  const byKey = new Map<string, Pinned>();
  let firstMs = Infinity;
  for (const track of [rec.video, rec.audio]) {
    if (!track) continue;
    const head: Pinned = { atMs: track.slices[0]?.startMs ?? null, media: track.media };
    for (const key of [track.playlistKey, ...track.otherPlaylists]) if (key !== null) byKey.set(key, head);
    for (const s of track.slices) {
      byKey.set(s.key, { atMs: s.startMs, media: track.media });
      firstMs = Math.min(firstMs, s.startMs);
    }
  }
  const fallback: Pinned = { atMs: Number.isFinite(firstMs) ? firstMs : null, media: null };
  return (p) => (p.key ? byKey.get(p.key) : undefined) ?? fallback;
}

function lane(track: Track | null, media: 'audio' | 'video', r: Interval, problems: Marker[]): string {
  const x = (ms: number) => `${(((ms - r.startMs) / (r.endMs - r.startMs)) * 100).toFixed(4)}%`;
  const w = (a: number, b: number) => `${(Math.max(0, (b - a) / (r.endMs - r.startMs)) * 100).toFixed(4)}%`;
  const parts: string[] = [];
  if (!track) {
    parts.push(`<div class="none">no ${media} track</div>`);
  } else {
    const present = track.slices.filter((s) => s.present);
    const spans = coveredSpans(present);
    const starts = present.map((s) => s.startMs).sort((a, b) => a - b);
    for (const sp of spans) {
      const count = lowerBound(starts, sp.endMs) - lowerBound(starts, sp.startMs - 1);
      parts.push(`<div class="bar ${media}" data-start="${sp.startMs}" data-end="${sp.endMs}" style="left:${x(sp.startMs)};width:${w(sp.startMs, sp.endMs)}" title="${esc(`${media} ${iso(sp.startMs)} → ${iso(sp.endMs)} (${secs(sp.endMs - sp.startMs)}, ${count} slices)`)}"></div>`);
    }
    for (const [i, sp] of spans.slice(1).entries()) {
      const g = { startMs: spans[i]!.endMs, endMs: sp.startMs };
      parts.push(`<div class="gap" data-start="${g.startMs}" data-end="${g.endMs}" style="left:${x(g.startMs)};width:${w(g.startMs, g.endMs)}" title="${esc(`${media} gap ${iso(g.startMs)} → ${iso(g.endMs)} (${secs(g.endMs - g.startMs)})`)}"><span>${esc(secs(g.endMs - g.startMs))}</span></div>`);
    }
    for (const s of track.slices.filter((sl) => !sl.present)) {
      parts.push(`<div class="missing" data-key="${esc(s.key)}" style="left:${x(s.startMs)};width:${w(s.startMs, endOf(s))}" title="${esc(`missing from storage: ${s.key} (${secs(s.durationMs)} at ${iso(s.startMs)})`)}"></div>`);
    }
    // Markers at (nearly) the same instant are set side by side rather than on top of each other.
    // (In time order, the ones set before it within `near` are a run that ends at it: counted, not scanned.)
    const placed: number[] = [];
    let nearFrom = 0;
    const near = (r.endMs - r.startMs) * 0.012;
    for (const m of [...trackMarkers(track), ...problems].sort((p, q) => p.atMs - q.atMs)) {
      const glyph = m.kind === 'problem' ? '!' : m.kind === 'restart' ? '↻' : m.kind === 'size' ? '⤢' : '⟲';
      while (nearFrom < placed.length && m.atMs - placed[nearFrom]! >= near) nearFrom++;
      const shift = placed.length - nearFrom;
      placed.push(m.atMs);
      const nudge = shift ? `;transform:translateX(${shift * 17}px)` : '';
      parts.push(`<div class="marker ${m.kind}" data-at="${m.atMs}" style="left:${x(m.atMs)}${nudge}" title="${esc(m.text)}">${glyph}</div>`);
    }
  }
  return `<div class="lane" data-media="${media}"><div class="lane-name">${media}</div><div class="track">${parts.join('')}</div></div>`;
}

function uidRow(rec: UidRecording, r: Interval): string {
  const problemTime = problemTimes(rec);
  const pinned = rec.problems.map((p) => ({ p, ...problemTime(p) }));
  const markers = (media: 'audio' | 'video') =>
    pinned
      .filter((q) => q.atMs !== null && (q.media === media || (q.media === null && media === (rec.video ? 'video' : 'audio'))))
      .map((q): Marker => ({ kind: 'problem', atMs: q.atMs!, text: `${q.p.severity}: ${q.p.key ? `${q.p.key}: ` : ''}${q.p.message}` }));
  const facts = (['audio', 'video'] as const)
    .map((m) => rec[m])
    .filter((t): t is Track => t !== null)
    .map((t) => {
      const sizes = [...new Set(t.slices.filter((s) => s.codedSize).map((s) => `${s.codedSize!.width}x${s.codedSize!.height}`))];
      const rotations = [...new Set(t.slices.map((s) => s.rotation))];
      const turned = t.media === 'video' && rotations.some((r) => r !== 0) ? `, rotated ${rotations.map((r) => `${r}°`).join(' → ')}` : '';
      return `${t.media}: ${t.slices.length} slices${sizes.length ? `, ${sizes.join(' → ')}` : ''}${turned}`;
    })
    .join(' · ');
  const list = pinned.length
    ? `<ul class="problems">${pinned.map((q) => `<li class="${q.p.severity}">${q.atMs !== null ? `<time>${hms(q.atMs)}</time> ` : ''}${esc(`${q.p.severity}: ${q.p.key ? `${q.p.key}: ` : ''}${q.p.message}`)}</li>`).join('')}</ul>`
    : '';
  return `<section class="uid${rec.failed ? ' failed' : ''}" data-uid="${esc(rec.uid)}">
<div class="uid-head"><b>uid ${esc(rec.uid)}</b> <small>${esc(facts)}</small>${rec.failed ? ` <span class="fail">cannot be merged: ${esc(rec.failed)}</span>` : ''}</div>
${lane(rec.audio, 'audio', r, markers('audio'))}
${lane(rec.video, 'video', r, markers('video'))}
${list}</section>`;
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d232b;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:22px 0 6px}.sub{color:#5a6570;margin-bottom:12px}
.legend span{display:inline-block;margin-right:14px;color:#333}.legend i{display:inline-block;width:22px;height:10px;margin-right:5px;vertical-align:middle;border-radius:2px}
.axis{position:relative;height:22px;margin-left:70px;border-bottom:1px solid #9aa4ad}.axis span{position:absolute;bottom:2px;transform:translateX(-50%);font-size:11px;color:#5a6570;white-space:nowrap}
.uid{border-top:1px solid #e3e7ea;padding:6px 0}.uid-head{margin:2px 0 4px}.uid-head small{color:#5a6570;margin-left:8px}.fail{color:#b3261e;font-weight:600}
.lane{display:flex;align-items:center;height:24px}.lane-name{width:70px;flex:none;color:#5a6570;font-size:12px}
.track{position:relative;flex:1;height:18px;background:repeating-linear-gradient(90deg,#f4f6f7 0 1px,transparent 1px 100%)}
.bar{position:absolute;top:2px;height:14px;border-radius:2px;min-width:1px}.bar.audio{background:#2e7d32}.bar.video{background:#1565c0}
.gap{position:absolute;top:7px;height:4px;border-top:1px dashed #9aa4ad;box-sizing:border-box;overflow:visible}.gap span{position:absolute;top:-16px;left:50%;transform:translateX(-50%);font-size:10px;color:#5a6570;white-space:nowrap}
.missing{position:absolute;top:2px;height:14px;background:repeating-linear-gradient(45deg,#d32f2f 0 3px,#ffcdd2 3px 6px);min-width:3px}
.marker{position:absolute;top:-2px;width:16px;height:16px;margin-left:-8px;border-radius:8px;font-size:11px;line-height:16px;text-align:center;color:#fff;font-weight:700;cursor:default}
.marker.restart{background:#6a1b9a}.marker.size{background:#ef6c00}.marker.rotation{background:#00838f}.marker.problem{background:#b3261e;z-index:2}
.none{color:#9aa4ad;font-size:12px;padding-left:4px}
.problems{margin:4px 0 4px 70px;padding:0;list-style:none;font-size:12px}.problems li.error{color:#b3261e}.problems li.warning{color:#8a5a00}.problems time{font-family:ui-monospace,monospace;color:#5a6570}
.other li{font-size:12px}
`;

export interface TimelineOptions {
  /** What was inspected, shown in the title (a folder or s3:// URL). */
  source?: string;
}

export function timelineHtml(inventory: Inventory, options: TimelineOptions = {}): string {
  const r = range(inventory);
  const title = `Recording timeline${options.source ? `: ${options.source}` : ''}`;
  const body: string[] = [];
  body.push(`<h1>${esc(title)}</h1>`);
  if (!r) {
    body.push('<p class="sub">No recording found.</p>');
  } else {
    const uids = inventory.sessions.reduce((n, s) => n + s.uids.length, 0);
    body.push(`<div class="sub">${iso(r.startMs)} → ${iso(r.endMs)} (${secs(r.endMs - r.startMs)}) · ${inventory.sessions.length} session(s), ${uids} UID row(s)</div>`);
    body.push(
      '<div class="legend"><span><i style="background:#2e7d32"></i>audio</span><span><i style="background:#1565c0"></i>video</span><span><i style="border-top:1px dashed #9aa4ad;height:0"></i>gap</span>' +
        '<span><i style="background:repeating-linear-gradient(45deg,#d32f2f 0 3px,#ffcdd2 3px 6px)"></i>missing slice</span><span>↻ restart</span><span>⤢ size change</span><span>⟲ rotation</span><span style="color:#b3261e">! problem</span></div>',
    );
    const axis = `<div class="axis">${ticks(r).map((t) => `<span style="left:${(((t - r.startMs) / (r.endMs - r.startMs)) * 100).toFixed(4)}%">${hms(t)}</span>`).join('')}</div>`;
    for (const s of inventory.sessions) {
      body.push(`<h2 class="session" data-sid="${esc(s.sid)}">session ${esc(s.sid)} · cname ${esc(s.cname)}${s.dir ? ` · ${esc(s.dir)}` : ''}</h2>`);
      const modes = s.modes ?? [];
      if (modes.length > 0) {
        const why = modes.map((m) => `${m.mode}${m.guess ? ' (a guess)' : ''}: ${m.why}; uid ${m.uids.join(', ')}`).join('\n');
        body.push(`<div class="sub mode" title="${esc(why)}">recorder mode: ${esc(describeModes(modes))}</div>`);
      }
      body.push(axis);
      for (const u of s.uids) body.push(uidRow(u, r));
    }
  }
  const recognised = inventory.recognised ?? [];
  if (inventory.problems.length || inventory.ignored.length || recognised.length) {
    body.push('<h2>Other findings</h2><ul class="other">');
    for (const p of inventory.problems) body.push(`<li class="${p.severity}">${esc(`${p.severity}: ${p.key ? `${p.key}: ` : ''}${p.message}`)}</li>`);
    for (const r of recognised) body.push(`<li>${esc(`not merged ${r.key}: ${r.what}`)}</li>`);
    for (const i of inventory.ignored) body.push(`<li>${esc(`ignored ${i.key}: ${i.reason}`)}</li>`);
    body.push('</ul>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}

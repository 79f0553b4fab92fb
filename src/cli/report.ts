// Human-readable text for what the library returns: inspect, plans, and the end-of-run report of every command.
import { formatUtc17 } from '../core/names.js';
import type { InventorySummary } from '../core/summary.js';
import type { ComposePlan } from '../core/compose-plan.js';
import type { SnapshotPlan } from '../core/snapshots.js';
import type { Interval, MergePlan, Problem } from '../core/types.js';
import type { ComposeResult, OutputResult, ResultBase, SnapshotUserResult, SummaryBase } from '../options.js';

const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const secs = (ms: number) => `${(ms / 1000).toFixed(3)}s`;
const span = (i: Interval) => `${iso(i.startMs)} → ${iso(i.endMs)} (${secs(i.endMs - i.startMs)})`;
const problem = (p: Problem) => `${p.severity === 'error' ? 'error' : 'warning'}: ${p.key ? `${p.key}: ` : ''}${p.message}`;

/** A video track's rotations as inspect says them, with what a merge does with them. */
function rotationText(rotations: number[]): string {
  if (rotations.length > 1) return `rotation ${rotations.join('/')}° (the phone turns: a merge turns the pictures upright, re-encoded)`;
  if (rotations[0]) return `rotation ${rotations[0]}° held throughout (a merge can copy it: shown upright by the MP4 display matrix)`;
  return `rotation ${rotations.join('/')}°`;
}

export function formatInspect(summary: InventorySummary): string {
  const out: string[] = [];
  if (summary.sessions.length === 0) out.push('No recording found.');
  else out.push(`recorder mode: ${summary.mode}`);
  for (const s of summary.sessions) {
    out.push(`session ${s.sid}  cname ${s.cname}${s.dir ? `  in ${s.dir}` : ''}`);
    for (const m of s.modes) {
      out.push(`  made by the ${m.mode}${m.or ? ` (or ${m.or.join('/')})` : ''} recorder mode${m.guess ? ' (a guess)' : ''}: ${m.why}; uid ${m.uids.join(', ')}`);
    }
    for (const u of s.uids) {
      const when = u.startMs !== null && u.endMs !== null ? `  ${span({ startMs: u.startMs, endMs: u.endMs })}` : '';
      out.push(`  uid ${u.uid}${u.failed ? '  FAILED' : ''}${when}`);
      if (u.failed) out.push(`    ${u.failed}`);
      for (const index of u.indexes) out.push(`    index: ${index}`);
      for (const t of u.tracks) {
        const facts = [
          `${t.slices} slices${t.missingSlices ? ` (${t.missingSlices} missing)` : ''}${t.muxedSlices ? ` (${t.muxedSlices} holding audio and video)` : ''}`,
          t.codecs.join('+'),
          ...(t.media === 'video' ? [t.sizes.length ? t.sizes.join(', ') : 'size unannounced', rotationText(t.rotations)] : []),
          `${t.restarts} start(s)`,
          `${secs(t.durationMs)} of media`,
        ];
        out.push(`    ${t.media}: ${facts.join(', ')}  [${t.playlist ?? 'no playlist'}]`);
        for (const sp of t.spans) out.push(`      present ${span(sp)}`);
        for (const g of t.gaps) out.push(`      gap     ${span(g)}`);
      }
      for (const p of u.problems) out.push(`    ${problem(p)}`);
    }
  }
  for (const p of summary.problems) out.push(problem(p));
  if (summary.recognised.length > 0) {
    out.push(`Recognised ${summary.recognised.length} file(s) of the recorder that are not merged:`);
    for (const r of summary.recognised) out.push(`  ${r.key}: ${r.what}`);
  }
  if (summary.ignored.length > 0) {
    out.push(`Ignored ${summary.ignored.length} file(s) that are not recording files:`);
    for (const i of summary.ignored) out.push(`  ${i.key}: ${i.reason}`);
  }
  return out.join('\n');
}

export function formatPlan(plan: MergePlan): string {
  const out: string[] = [];
  for (const o of plan.outputs) {
    out.push(`${o.fileName}  (${o.kind}, ${secs(o.durationMs)}, t=0 at ${iso(o.originMs)} = ${formatUtc17(o.originMs)})`);
    if (o.video) {
      const v = o.video;
      const turned = v.displayRotation === 90 || v.displayRotation === 270;
      const shown = v.displayRotation
        ? `; shown upright as ${turned ? `${v.height}x${v.width}` : `${v.width}x${v.height}`}: rotation ${v.displayRotation}° written as MP4 display metadata, the pictures copied as recorded`
        : '';
      out.push(`  video: ${v.path}${v.reasons.length ? ` because ${v.reasons.join('; ')}` : ''}; ${v.width}x${v.height} at ${v.fps ?? 'source'} fps; ${v.runs.length} run(s)${shown}`);
      for (const r of o.video.runs) out.push(`    run ${secs(r.offsetMs)} → ${secs(r.endMs)}: ${r.slices.length} slice(s), ${r.codec} ${r.width}x${r.height}${r.rotation ? `, rotated ${r.rotation}°` : ''}`);
      for (const g of o.video.gaps) out.push(`    gap ${secs(g.startMs)} → ${secs(g.endMs)} (${o.gapMode === 'black' || g.startMs === 0 ? 'black' : 'last frame'})`);
    }
    if (o.audio) {
      out.push(`  audio: ${o.audio.path}${o.audio.reasons.length ? ` because ${o.audio.reasons.join('; ')}` : ''}; ${o.audio.runs.length} run(s)`);
      for (const g of o.audio.gaps) out.push(`    gap ${secs(g.startMs)} → ${secs(g.endMs)} (silence)`);
    }
    for (const c of o.cuts) out.push(`  cut ${span(c)}`);
    if (o.trim) out.push(`  trim ${secs(o.trim.fromMs)} + ${secs(o.trim.durationMs)}`);
    for (const w of o.warnings) out.push(`  warning: ${w}`);
  }
  for (const f of plan.failures) out.push(`cannot merge uid ${f.uid} of ${f.sid}: ${f.error}`);
  return out.join('\n');
}

/** One line of the end-of-run report and where it goes: results on stdout, failures and warnings on stderr. */
export interface ReportLine {
  to: 'stdout' | 'stderr';
  kind: 'ok' | 'skipped' | 'failed' | 'warning' | 'note';
  text: string;
}

/** How a command's results read in the report. */
export interface ResultWords<R extends ResultBase> {
  /** What was done, for "Nothing was merged": merged, composed, taken. */
  done: string;
  /** Who a result is of, after its id in a failure (`uid 20`), or null. */
  who(r: R): string | null;
  /** After `✓ `: the file and what it holds. */
  made(r: R): string;
  /** Lines on stdout under a made output (a layout sidecar). */
  more?(r: R): string[];
  /** Before each of its warnings (`uid 20: `). */
  warningPrefix(r: R): string;
}

/** The end-of-run report as lines: what `-q` still prints (everything but progress). The same for every command. */
export function summaryLines<R extends ResultBase>(summary: SummaryBase<R>, words: ResultWords<R>): ReportLine[] {
  const out: ReportLine[] = [];
  const line = (to: ReportLine['to'], kind: ReportLine['kind'], text: string) => out.push({ to, kind, text });
  for (const r of summary.results) {
    const who = words.who(r);
    if (r.error) line('stderr', 'failed', `✗ ${r.id}${who ? ` (${who})` : ''}: ${r.error}`);
    else if (r.skipped) line('stdout', 'skipped', `= ${r.file ?? r.id} (already made from the same inputs and options; --force to redo)`);
    else {
      line('stdout', 'ok', `✓ ${words.made(r)}${r.remade ? ` ${r.remade}` : ''}`);
      for (const more of words.more?.(r) ?? []) line('stdout', 'note', more);
    }
    for (const w of r.warnings) line('stderr', 'warning', `    warning: ${words.warningPrefix(r)}${w}`);
  }
  for (const p of summary.problems) line('stderr', p.severity === 'error' ? 'failed' : 'warning', problem(p));
  if (summary.ignored.length > 0) line('stderr', 'note', `Ignored ${summary.ignored.length} non-recording file(s) (see \`recmerge inspect\`).`);
  if (summary.results.length === 0) {
    line('stderr', 'failed', `Nothing was ${words.done}: nothing in the source gives an output of this command.`);
    return out;
  }
  const failed = summary.results.filter((r) => r.error).length;
  if (failed) line('stderr', 'failed', `${failed} of ${summary.results.length} output(s) failed.`);
  else if (!summary.ok) line('stderr', 'failed', `${summary.results.length} output(s) made, not all of them whole (see the warnings).`);
  else line('stdout', 'ok', `${summary.results.length} output(s) ready.`);
  return out;
}

export const mergeWords: ResultWords<OutputResult> = {
  done: 'merged',
  who: (r) => `uid ${r.uid}`,
  made(r) {
    const paths = [r.videoPath && `video ${r.videoPath}`, r.audioPath && `audio ${r.audioPath}`].filter(Boolean).join(', ');
    return `${r.file} (${secs(r.durationMs)}, ${paths}, ${secs(r.elapsedMs)})${r.uploaded ? ` → ${r.uploaded}` : ''}`;
  },
  more: (r) => (r.audioFile ? [`    audio ${r.audioFile}`] : []),
  warningPrefix: (r) => `uid ${r.uid}: `,
};

export const composeWords: ResultWords<ComposeResult> = {
  done: 'composed',
  who: () => null,
  made: (r) => `${r.file} (${secs(r.durationMs)}, ${r.uids.length} user(s): ${r.uids.join(' ')}, ${secs(r.elapsedMs)})${r.uploaded?.length ? ` → ${r.uploaded[0]}` : ''}`,
  more: (r) => (r.layoutFile ? [`    layout ${r.layoutFile}`] : []),
  // A composite's warnings name their user already.
  warningPrefix: () => '',
};

export const snapshotWords: ResultWords<SnapshotUserResult> = {
  done: 'taken',
  who: (r) => `uid ${r.uid}`,
  made: (r) => `${r.files.length} picture(s) of uid ${r.uid} (${r.id})${r.files[0] ? `, ${r.files[0]} …` : ''} (${secs(r.elapsedMs)})`,
  warningPrefix: (r) => `uid ${r.uid}: `,
};

export function formatComposePlan(plan: ComposePlan): string {
  const out: string[] = [];
  for (const o of plan.outputs) {
    out.push(`${o.fileName}  (${o.kind === 'av' ? `${o.width}x${o.height} at ${o.fps} fps` : 'mixed audio'}, ${secs(o.durationMs)}, t=0 at ${iso(o.originMs)} = ${formatUtc17(o.originMs)})`);
    out.push(`  users: ${o.users.map((u) => u.uid).join(' ')}${o.leftOut.length ? `; left out: ${o.leftOut.join(' ')}` : ''}`);
    for (const iv of o.layout?.intervals ?? []) out.push(`    ${secs(iv.startMs)} → ${secs(iv.endMs)}: ${iv.tiles.length ? iv.tiles.map((t) => `uid ${t.uid} ${t.w}x${t.h}+${t.x}+${t.y}`).join(', ') : 'nobody'}`);
    for (const w of o.warnings) out.push(`  warning: ${w}`);
  }
  for (const f of plan.failures) out.push(`cannot compose ${f.sid || f.cname}: ${f.error}`);
  return out.join('\n');
}

export function formatSnapshotPlan(plan: SnapshotPlan): string {
  const out: string[] = [];
  for (const o of plan.outputs) {
    out.push(`uid ${o.uid} of ${o.sid}: ${o.shots.length} picture(s), ${formatUtc17(o.shots[0]!.instantMs)} → ${formatUtc17(o.shots.at(-1)!.instantMs)}`);
    for (const s of o.shots) out.push(`  ${s.fileName}  from ${s.sliceKey}${s.rotation ? `, turned ${s.rotation}°` : ''}${s.early ? ' (before its first decodable picture: a later one stands in)' : ''}`);
    for (const w of o.warnings) out.push(`  warning: ${w}`);
  }
  for (const f of plan.failures) out.push(`cannot take pictures of uid ${f.uid} of ${f.sid}: ${f.error}`);
  return out.join('\n');
}

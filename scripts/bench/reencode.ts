// The re-encoding path on camera-like content (issue 20.2), part of `npm run bench` (alone: BENCH_ONLY=reencode).
// Two short recordings (BENCH_CAMERA_SECONDS, default 90): phones at 1280x720 30 fps (H.264) and Web VP8
// senders at 640x360 and 960x540 30 fps. On each, in one run: recmerge's re-encode (`--transcode`; VP8 is
// re-encoded anyway), the service script's method at the same rate and size, and the floor (one bare ffmpeg
// decode→encode of the same frames with recmerge's settings). Quality: SSIM against the exact copy-path
// output (H.264), or against the source frames themselves (VP8: nothing copies it); size; CPU.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { MethodResult, MethodSpec } from './method.js';
import { cameraSpecs, ensureRecording, type BenchRecording } from './recordings.js';

const execFileAsync = promisify(execFile);
const SECONDS = Number(process.env.BENCH_CAMERA_SECONDS ?? 90);

export const TARGET_VS_SCRIPT = 2;
export const TARGET_VS_FLOOR = 1.3;
export const TARGET_SSIM_LOSS = 0.005;
export const TARGET_SIZE_VS_SCRIPT = 1.25;

interface Deps {
  runMethod: (m: MethodSpec) => Promise<MethodResult>;
  log: (s: string) => void;
}

export interface ReencodeRow {
  recording: string;
  method: string;
  wallS: number;
  timesRealtime: number;
  cpuS: number;
  ssim: number | null;
  sizeMB: number;
  vsScript: number | null;
  vsFloor: number | null;
  sizeVsScript: number | null;
  correct: boolean;
}

/** Mean SSIM (All) of `file` against `ref`, each first cut by its lead (s) so that both start at the same picture. */
async function ssim(file: string, ref: string, trim: { file: number; ref: number }, refIsList: boolean, fps: number): Promise<number | null> {
  const cut = (label: string, s: number, out: string) => `[${label}]${s > 0 ? `trim=start=${s.toFixed(6)},` : ''}setpts=PTS-STARTPTS[${out}]`;
  // A list of source frames is numbered frame by frame (WebM slices carry the recorder's clock).
  const refCut = refIsList ? `[1:v]setpts=N/(${fps}*TB)[b]` : cut('1:v', trim.ref, 'b');
  const graph = `${cut('0:v', trim.file, 'a')};${refCut};[a][b]ssim=shortest=1`;
  try {
    const { stderr } = await execFileAsync(
      'ffmpeg',
      ['-hide_banner', '-nostdin', '-i', file, ...(refIsList ? ['-f', 'concat', '-safe', '0'] : []), '-i', ref, '-lavfi', graph, '-f', 'null', '-'],
      { maxBuffer: 1 << 24 },
    );
    const m = / All:([\d.]+)/.exec(stderr);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Seconds from a UID's first slice (the output's origin) to its first video slice: the black lead of a wall-clock output. */
function videoLeadS(rec: BenchRecording, uid: string): number {
  const mine = rec.slices.filter((s) => s.uid === uid);
  const origin = Math.min(...mine.map((s) => s.startMs));
  return (Math.min(...mine.filter((s) => s.media === 'video').map((s) => s.startMs)) - origin) / 1000;
}

const sizeOf = async (files: (string | null)[]) => {
  let bytes = 0;
  for (const f of files) if (f) bytes += (await stat(f)).size;
  return bytes / 1024 / 1024;
};

export async function runReencodeBench(recDir: string, deps: Deps): Promise<{ seconds: number; rows: ReencodeRow[]; targets: Array<{ name: string; pass: boolean; value: string }> }> {
  const { runMethod, log } = deps;
  const rows: ReencodeRow[] = [];
  const targets: Array<{ name: string; pass: boolean; value: string }> = [];
  for (const spec of cameraSpecs(SECONDS)) {
    const rec = await ensureRecording(recDir, spec, log);
    const sizes = Object.fromEntries(spec.senders.map((s) => [s.uid, { width: s.width, height: s.height }]));
    const copyable = spec.senders.every((s) => s.codec === 'h264');
    const methods: MethodSpec[] = [
      ...(copyable ? [{ id: 'auto' as const, label: 'recmerge (copy path: the reference)', recording: rec, uids: rec.uids }] : []),
      { id: 'transcode', label: 'recmerge --transcode', recording: rec, uids: rec.uids },
      { id: 'script', label: "script's method (ffmpeg)", recording: rec, uids: rec.uids, fps: rec.fps, sizes },
      { id: 'floor', label: 'floor: bare ffmpeg decode→encode', recording: rec, uids: rec.uids, fps: rec.fps, expectWrongDuration: true },
    ];
    const results: MethodResult[] = [];
    for (const m of methods) results.push(await runMethod(m));
    const ref = results.find((r) => r.id === 'auto');
    const floorResult = results.find((r) => r.id === 'floor')!;
    log(`SSIM on ${rec.name} ...`);
    for (const r of results) {
      if (r.id === 'auto') continue;
      const values: number[] = [];
      for (const c of r.checks) {
        if (!c.file) continue;
        const lead = videoLeadS(rec, c.uid);
        const floorOut = r.id === 'floor';
        let v: number | null;
        if (ref) {
          const refFile = ref.checks.find((x) => x.uid === c.uid)?.file;
          v = refFile ? await ssim(c.file, refFile, { file: 0, ref: floorOut ? lead : 0 }, false, rec.fps) : null;
        } else {
          // The source frames themselves, in order (the floor's own list of them).
          const list = path.join(path.dirname(floorResult.checks.find((x) => x.uid === c.uid)?.file ?? ''), `${c.uid}-video.ffconcat`);
          v = await ssim(c.file, list, { file: floorOut ? 0 : lead, ref: 0 }, true, rec.fps);
        }
        if (v !== null) values.push(v);
      }
      (r as MethodResult & { ssim?: number | null }).ssim = values.length === r.checks.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
    }
    const script = results.find((r) => r.id === 'script')!;
    const scriptSize = await sizeOf(script.checks.map((c) => c.file));
    for (const r of results) {
      const size = await sizeOf(r.checks.map((c) => c.file));
      rows.push({
        recording: `${rec.name} (${spec.senders.map((s) => `${s.width}x${s.height} ${s.codec}`).join(', ')}; ${SECONDS} s each, 30 fps)`,
        method: r.label,
        wallS: r.wallS,
        timesRealtime: r.timesRealtime,
        cpuS: r.cpuS.children + r.cpuS.node,
        ssim: (r as MethodResult & { ssim?: number | null }).ssim ?? null,
        sizeMB: size,
        vsScript: script.wallS / r.wallS,
        vsFloor: r.wallS / floorResult.wallS,
        sizeVsScript: size / scriptSize,
        correct: r.correct || r.expectWrongDuration,
      });
    }
    // Each recording's rows as soon as they are measured (a run stopped later keeps them).
    for (const r of rows.slice(-methods.length)) log(`  ${r.method}: ${r.wallS.toFixed(1)} s wall, CPU ${r.cpuS.toFixed(1)} s, SSIM ${r.ssim?.toFixed(4) ?? '-'}, ${r.sizeMB.toFixed(1)} MB`);
    const ours = rows.at(-methods.length + (copyable ? 1 : 0))!;
    const scriptRow = rows.find((x) => x.recording === ours.recording && x.method === script.label)!;
    const name = (t: string) => `${rec.name}: ${t}`;
    targets.push(
      { name: name(`recmerge re-encode >= ${TARGET_VS_SCRIPT}x faster than the script's method`), pass: (ours.vsScript ?? 0) >= TARGET_VS_SCRIPT, value: `${ours.vsScript?.toFixed(2)}x` },
      { name: name(`recmerge re-encode within ${TARGET_VS_FLOOR}x of the floor`), pass: (ours.vsFloor ?? Infinity) <= TARGET_VS_FLOOR, value: `${ours.vsFloor?.toFixed(2)}x` },
      {
        name: name(`SSIM no worse than the script's by more than ${TARGET_SSIM_LOSS}`),
        pass: ours.ssim !== null && scriptRow.ssim !== null && ours.ssim >= scriptRow.ssim - TARGET_SSIM_LOSS,
        value: `${ours.ssim?.toFixed(4)} vs ${scriptRow.ssim?.toFixed(4)}`,
      },
      { name: name(`file no larger than ${TARGET_SIZE_VS_SCRIPT}x the script's`), pass: (ours.sizeVsScript ?? Infinity) <= TARGET_SIZE_VS_SCRIPT, value: `${ours.sizeVsScript?.toFixed(2)}x` },
    );
  }
  const fmt = (n: number | null, d = 2) => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(d));
  const head = ['recording', 'method', 'wall s', 'x real time', 'vs script (speed)', 'vs floor (time)', 'CPU s', 'SSIM', 'size MB', 'size vs script', 'durations'];
  const lines = rows.map((r) => [r.recording, r.method, fmt(r.wallS, 1), fmt(r.timesRealtime, 1), `${fmt(r.vsScript)}x`, `${fmt(r.vsFloor)}x`, fmt(r.cpuS, 1), fmt(r.ssim, 4), fmt(r.sizeMB, 1), `${fmt(r.sizeVsScript)}x`, r.correct ? 'ok' : 'WRONG']);
  log('');
  log(`re-encoding on camera-like content (${SECONDS} s per UID, 2 UIDs at a time):`);
  log([head, head.map(() => '---'), ...lines].map((c) => `| ${c.join(' | ')} |`).join('\n'));
  for (const t of targets) log(`${t.pass ? 'PASS' : 'MISS'} ${t.name}: ${t.value}`);
  log('');
  return { seconds: SECONDS, rows, targets };
}

// The one run pipeline of every command (merge, compose, snapshots): source -> checks before any work ->
// read (listing, playlists, facts) -> plan -> per output (rerun record, download, measure, plan again,
// render into temporary names, read back, rename, record, upload) -> summary. What the README promises for
// "every command" lives here once, so each command keeps it by construction; a command only plans its
// outputs and renders one (see Kind).
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { UsageError } from '../core/errors.js';
import { chaptersVtt, type OutputEvents } from '../core/events.js';
import { markMissing } from '../core/inventory.js';
import { chaptersFileName, eventsFileName } from '../core/output-names.js';
import { checkOptions, DEFAULT_PRESET } from '../core/options.js';
import type { Inventory, SliceMedia } from '../core/types.js';
import { probeOutput } from '../ffmpeg/probe.js';
import { FfmpegError, observeCommands, resolveTool } from '../ffmpeg/runner.js';
import { unreadableSlices } from '../render/decoded.js';
import type { ResultBase, RunOptions, RunPlanSummary, RunProgress, SummaryBase } from '../options.js';
import { containersOf, measureSlices, measureUnlisted, probeFacts, readInventory } from '../recording-reader.js';
import { warmReaders } from '../media/contained.js';
import { isS3Url, openSource } from '../storage/open.js';
import type { FetchOptions, RecordingSource } from '../storage/source.js';
import type { Kind, KindPlan, PlannedOutput, Rendered, RenderCache } from './kind.js';
import { partialName, removeLeftovers, workPrefix } from '../storage/leftovers.js';
import { expectedRecord, forgetRecord, rememberListing, rerunDecision, writeRecord } from './output-record.js';
import { checkLocalSource, checkOutputDir, checkPreset, checkS3Source, checkTool, checkUpload, makeOutputDir } from './preflight.js';

/** Resolves a planned name inside the output folder, refusing anything that would leave it. */
export function outputPath(outDir: string, fileName: string): string {
  const root = path.resolve(outDir);
  const file = path.resolve(root, fileName);
  if (!file.startsWith(root + path.sep)) throw new Error(`output name "${fileName}" would be written outside ${root}`);
  return file;
}

/** Every option every command takes is checked against the one table of limits (core/options.ts). */
function checkRun<O extends RunOptions>(kind: Kind<O, PlannedOutput, ResultBase>, options: O): void {
  if (!options || typeof options !== 'object') throw new UsageError(`${kind.name}: options must be an object`);
  checkOptions(options);
  checkPreset(options.preset);
  kind.check(options);
}

/** Requested UIDs that the recording does not have: a usage error that lists the ones it has. */
export function checkRequestedUids(inventory: Inventory, uids: string[] | undefined): void {
  if (!uids?.length) return;
  const known = [...new Set(inventory.sessions.flatMap((s) => s.uids.map((u) => u.uid)))].sort((a, b) => Number(a) - Number(b));
  const unknown = uids.filter((u) => !known.includes(u));
  if (unknown.length === 0) return;
  const has = known.length ? `the recording has UID ${known.join(', ')}` : 'the recording has no UID at all';
  throw new UsageError(`no UID ${unknown.join(', ')} in this recording: ${has}`);
}

/** A source that holds no recording at all is a problem found before any work. */
export function checkSomethingFound(inventory: Inventory, source: RecordingSource): void {
  if (inventory.sessions.length > 0) return;
  const ignored = inventory.ignored.length;
  const what = ignored > 0 ? `${ignored} file(s), none of them a recording's playlist or slice (see \`recmerge inspect\`)` : 'no files at all';
  throw new UsageError(`no recording found in ${source.description}: ${what}`);
}

/** Checks made before anything is read: the source can be read. */
async function checkSource(options: RunOptions): Promise<void> {
  if (typeof options.source !== 'string') return;
  if (isS3Url(options.source)) await checkS3Source(options.source, options);
  else await checkLocalSource(options.source);
}

interface Read<P extends PlannedOutput> {
  source: RecordingSource;
  inventory: Inventory;
  facts: Awaited<ReturnType<typeof probeFacts>>['facts'];
  plan: KindPlan<P>;
}

/** Lists the source, reads its playlists and the facts the plan needs, and plans (slices placed by their names). */
async function readAndPlan<O extends RunOptions, P extends PlannedOutput>(
  kind: Kind<O, P, ResultBase>,
  source: RecordingSource,
  options: O,
  beforeWork?: (inventory: Inventory) => Promise<void>,
): Promise<Read<P>> {
  const { signal } = options;
  const inventoryRead = await readInventory(source, signal);
  checkSomethingFound(inventoryRead.inventory, source);
  const scope = kind.scope(options);
  checkRequestedUids(inventoryRead.inventory, scope.uids);
  await beforeWork?.(inventoryRead.inventory);
  const read = await measureUnlisted(source, inventoryRead, signal);
  const { inventory, facts } = await probeFacts(source, read, scope, signal);
  return { source, inventory, facts, plan: kind.plan(inventory, facts, options) };
}

/**
 * The slices `inputs` had from the source and measured: `missing` holds those that could not be had and, from
 * then on, those that could not be read (measuring adds them, and so may a later read by ffmpeg);
 * `inventory()` is the recording with every one of them a gap, each marked as not had or unreadable.
 */
async function haveAndMeasure(
  source: RecordingSource,
  read: Pick<Read<PlannedOutput>, 'inventory'>,
  containers: ReturnType<typeof containersOf>,
  inputs: string[],
  signal: AbortSignal | undefined,
  onTransfer?: FetchOptions['onProgress'],
): Promise<{ paths: Map<string, string>; missing: Map<string, string>; media: Map<string, SliceMedia>; inventory: () => Inventory }> {
  const { paths, missing } = await source.materialize(inputs, { signal, ...(onTransfer ? { onProgress: onTransfer } : {}) });
  const notHad = new Set(missing.keys());
  const media = await measureSlices(paths, missing, { inputs }, containers, signal);
  const inventory = () => (missing.size > 0 ? markMissing(read.inventory, missing, new Set([...missing.keys()].filter((k) => !notHad.has(k)))) : read.inventory);
  return { paths, missing, media, inventory };
}

/** An output planned again with what its slices really hold (`media`); slices not had or not readable are gaps in `inventory`. */
function planMeasured<O extends RunOptions, P extends PlannedOutput>(
  kind: Kind<O, P, ResultBase>,
  read: Read<P>,
  options: O,
  planned: P,
  media: Map<string, SliceMedia>,
  missing: Map<string, string>,
  inventory: Inventory,
): P {
  const again = kind.plan(inventory, read.facts, options, media);
  const found = again.outputs.find((o) => o.id === planned.id);
  if (found) return found;
  const why = again.failures.find((f) => f.uid === planned.uid && (f.sid === planned.sid || planned.sid === null))?.error;
  throw new Error(missing.size > 0 ? [...missing].map(([k, r]) => `${k}: ${r}`).join('; ') : (why ?? 'nothing left to make'));
}

/**
 * One output of a command planned exactly as a run plans it before rendering (read, plan, download and measure
 * its slices, plan again), handed to `use` with its local slice files (valid until `use` settles). What a
 * queue chunk job encodes its chunk from. Throws UsageError when the recording has no output `id`.
 */
export async function withPlannedOutput<O extends RunOptions, P extends PlannedOutput, T>(
  kind: Kind<O, P, ResultBase>,
  options: O,
  id: string,
  use: (output: P, paths: Map<string, string>) => Promise<T>,
): Promise<T> {
  listenedToByAll(options.signal);
  checkRun(kind, options);
  const { signal } = options;
  await checkSource(options);
  const source = await openSource(options.source, { ...options, outDir: path.resolve(options.outDir || path.join(os.tmpdir(), 'recmerge-plan')) });
  try {
    const read = await readAndPlan(kind, source, options);
    const planned = read.plan.outputs.find((o) => o.id === id);
    if (!planned) throw new UsageError(`no output ${id} in this recording`);
    const { paths, missing, media, inventory } = await haveAndMeasure(source, read, containersOf(read.inventory), planned.inputs, signal);
    return await use(planMeasured(kind, read, options, planned, media, missing, inventory()), paths);
  } finally {
    await source.dispose();
  }
}

export interface PlanOnly {
  /** Measure every slice, as the run does (default: for a local folder yes, for S3 no). */
  measure?: boolean;
}

/** The plan of a command, without making anything (what `--dry-run` prints). */
/**
 * Every read in a reader thread, download and tool in flight listens to the run's signal (each removes its
 * listener when it ends): more than Node's default of 10 at once is normal, not a leak, and must not print
 * a MaxListenersExceededWarning on the user's terminal.
 */
function listenedToByAll(signal: AbortSignal | undefined): void {
  if (signal) setMaxListeners(0, signal);
}

export async function planPipeline<O extends RunOptions, P extends PlannedOutput>(
  kind: Kind<O, P, ResultBase>,
  options: O & PlanOnly,
): Promise<KindPlan<P> & { inventory: Inventory }> {
  listenedToByAll(options.signal);
  return observeCommands(options.onCommand, async () => {
    checkRun(kind, options);
    resolveTool('ffprobe');
    await checkSource(options);
    const source = await openSource(options.source, { ...options, outDir: path.resolve(options.outDir || path.join(os.tmpdir(), 'recmerge-plan')) });
    try {
      const read = await readAndPlan(kind, source, options);
      if (!(options.measure ?? source.local === true)) return { ...read.plan, inventory: read.inventory };
      const inputs = [...new Set(read.plan.outputs.flatMap((o) => o.inputs))];
      const { media, inventory } = await haveAndMeasure(source, read, containersOf(read.inventory), inputs, options.signal);
      const measured = inventory();
      return { ...kind.plan(measured, read.facts, options, media), inventory: measured };
    } finally {
      await source.dispose();
    }
  });
}

/**
 * Runs a command over a recording. Per-output failures are reported in the results, never thrown; one
 * broken output does not stop the others. Throws only for usage errors and problems found before any work
 * (UsageError), an unreadable source, or cancellation (after every temporary file is removed).
 */
export async function runPipeline<O extends RunOptions, P extends PlannedOutput, R extends ResultBase>(kind: Kind<O, P, R>, options: O): Promise<SummaryBase<R>> {
  listenedToByAll(options.signal);
  return observeCommands(options.onCommand, () => run(kind, options));
}

async function run<O extends RunOptions, P extends PlannedOutput, R extends ResultBase>(kind: Kind<O, P, R>, options: O): Promise<SummaryBase<R>> {
  checkRun(kind, options);
  if (!options.outDir) throw new UsageError('outDir is required');
  const { signal } = options;
  // Everything that can be known before any work, so that a run that cannot succeed stops here.
  await checkSource(options);
  // The reader threads load while the tools are asked who they are (both at once).
  warmReaders();
  await Promise.all([checkTool('ffmpeg', signal), checkTool('ffprobe', signal)]);
  await checkOutputDir(options.outDir, options.source);
  if (options.upload) await checkUpload(options.upload, { ...options, signal });
  let outDir = path.resolve(options.outDir);
  let runDir: string | null = null;
  const { source, listed } = rememberListing(await openSource(options.source, { ...options, outDir }));
  options.onStart?.();
  try {
    // The output folder is made only once the recording is known to hold something (and the UIDs asked for).
    const read = await readAndPlan(kind, source, options, async () => {
      outDir = await makeOutputDir(options.outDir);
      await removeLeftovers(outDir);
    });
    const { plan } = read;
    const labels = kind.labels(plan.outputs);
    options.onPlan?.(planSummary(plan, labels));
    const containers = containersOf(read.inventory);
    const cache: RenderCache = { dir: (runDir = await mkdtemp(workPrefix())), silence: new Map(), blackLeads: new Map() };
    const concurrency = Math.max(1, options.concurrency ?? kind.concurrency(options));
    const limit = pLimit(concurrency);
    // Encoder threads are shared by the outputs running at once; the last ones of a batch get every core.
    let unfinished = plan.outputs.length;
    const threads = () => {
      const running = Math.min(concurrency, unfinished);
      return running > 1 ? Math.max(1, Math.floor(os.availableParallelism() / running)) : undefined;
    };

    // Outputs of which some files could not be made (a picture that could not be taken): not whole.
    const incomplete = new Set<string>();
    const one = async (planned: P): Promise<R> => {
      const started = Date.now();
      const progress = (p: Partial<RunProgress> & Pick<RunProgress, 'phase'>) =>
        options.onProgress?.({
          output: planned.id,
          label: labels.get(planned.id) ?? planned.id,
          fileName: planned.files[0]!,
          uid: planned.uid,
          sid: planned.sid,
          fraction: 0,
          positionMs: 0,
          durationMs: planned.durationMs,
          speed: null,
          ...p,
        });
      const base = (p: P, extra: Partial<ResultBase>): ResultBase => ({
        id: p.id,
        sid: p.sid,
        cname: p.cname,
        file: null,
        durationMs: p.durationMs,
        skipped: false,
        warnings: p.warnings,
        error: null,
        elapsedMs: Date.now() - started,
        ...extra,
      });
      const mainFile = outputPath(outDir, planned.files[0]!);
      const record = expectedRecord(planned.inputs, kind.byteOptions(options, planned), listed);
      const decision = options.force ? { skip: false as const, reason: null } : await rerunDecision(planned.files.map((f) => outputPath(outDir, f)), record);
      if (decision.skip) {
        progress({ phase: 'skipped', fraction: 1 });
        const kept = kind.events ? await keptEvents(planned, outDir) : {};
        return kind.result(planned, base(planned, { file: mainFile, skipped: true, elapsedMs: 0, ...kept }), { rendered: null, files: planned.files.map((f) => outputPath(outDir, f)), uploaded: [] });
      }
      const remade = decision.reason ? { remade: decision.reason } : {};
      let current = planned;
      let rendered: Rendered | null = null;
      try {
        await forgetRecord(mainFile);
        progress({ phase: 'download' });
        // What each slice really holds (lengths, first timestamps, keyframes, overlaps); slices that could not
        // be had or read become gaps. The output is planned again with that.
        const { paths, missing, media, inventory } = await haveAndMeasure(source, read, containers, planned.inputs, signal, (transfer) => progress({ phase: 'download', transfer }));
        const planAgain = () => planMeasured(kind, read, options, planned, media, missing, inventory());
        current = planAgain();
        const render = () => renderOne(kind, current, outDir, options, { paths, missing, cache, threads: threads(), progress });
        try {
          rendered = await render();
        } catch (error) {
          if (!(error instanceof FfmpegError) || error.aborted) throw error;
          // Our readers took a slice that ffmpeg cannot read at all (a codec its data does not fit, ...): each
          // slice is read alone by ffmpeg, those it cannot read become gaps (named), and the output is made again, once.
          const unreadable = await unreadableSlices(current.inputs, paths, containers, signal);
          if (unreadable.size === 0) throw error;
          for (const [key, why] of unreadable) {
            paths.delete(key);
            missing.set(key, why);
          }
          current = planAgain();
          rendered = await render();
        }
        const uploaded: string[] = [];
        if (options.upload && rendered.written.length > 0) {
          progress({ phase: 'upload', fraction: 1, positionMs: current.durationMs });
          // The AWS SDK is loaded only when something is uploaded.
          const { uploadFile } = await import('../storage/upload.js');
          for (const name of rendered.written) uploaded.push(await uploadFile(outputPath(outDir, name), options.upload, { ...options, key: name, overwrite: options.force, signal }));
        }
        const whole = rendered.written.length === current.files.length && !rendered.losses?.length;
        if (whole) await writeRecord(mainFile, current.files.map((f) => outputPath(outDir, f)), record);
        else incomplete.add(current.id);
        progress({ phase: 'done', fraction: 1, positionMs: current.durationMs });
        const written = rendered.written.includes(current.files[0]!);
        const events = rendered.events ? eventsResult(current, outDir, rendered) : {};
        return kind.result(
          current,
          base(current, {
            file: written ? mainFile : null,
            ...events,
            durationMs: rendered.durationMs,
            warnings: [...current.warnings, ...rendered.warnings, ...(rendered.losses ?? [])],
            error: rendered.written.length === 0 ? `nothing could be written (${rendered.losses?.length ?? 0} failed)` : null,
            ...remade,
          }),
          { rendered, files: rendered.written.map((f) => outputPath(outDir, f)), uploaded },
        );
      } catch (error) {
        signal?.throwIfAborted();
        progress({ phase: 'failed' });
        return kind.result(current, base(current, { error: (error as Error).message, ...remade }), { rendered, files: [], uploaded: [] });
      }
    };

    // Every output settles (its temporary files removed) before a cancelled run rejects.
    const settled = await Promise.allSettled(plan.outputs.map((o) => limit(() => one(o).finally(() => unfinished--))));
    signal?.throwIfAborted();
    const rejected = settled.find((s) => s.status === 'rejected');
    if (rejected) throw rejected.reason;
    const results = [...settled.map((s) => (s as PromiseFulfilledResult<R>).value), ...plan.failures.map((f) => kind.failure(f, options))];
    const whole = (r: R) => r.error === null && !incomplete.has(r.id) && (kind.whole?.(r) ?? true);
    return { results, ignored: read.inventory.ignored, problems: read.inventory.problems, ok: results.length > 0 && results.every(whole) };
  } finally {
    if (runDir) await rm(runDir, { recursive: true, force: true });
    await source.dispose();
  }
}

const fail = (message: string): never => {
  throw new Error(message);
};

/** The result's events fields of an output whose sidecars were written now. */
function eventsResult(output: PlannedOutput, outDir: string, rendered: Rendered): Partial<ResultBase> {
  const main = output.files[0]!;
  return {
    events: rendered.events!,
    eventsFile: outputPath(outDir, eventsFileName(main)),
    chaptersFile: outputPath(outDir, chaptersFileName(main)),
  };
}

/** The result's events fields of an output left as it was (its sidecars read back; nothing when they cannot be). */
async function keptEvents(output: PlannedOutput, outDir: string): Promise<Partial<ResultBase>> {
  const main = output.files[0]!;
  const eventsFile = outputPath(outDir, eventsFileName(main));
  try {
    const events = JSON.parse(await readFile(eventsFile, 'utf8')) as OutputEvents;
    return { events, eventsFile, chaptersFile: outputPath(outDir, chaptersFileName(main)) };
  } catch {
    return {};
  }
}

function planSummary<P extends PlannedOutput>(plan: KindPlan<P>, labels: Map<string, string>): RunPlanSummary {
  return {
    outputs: plan.outputs.map((o) => ({ id: o.id, label: labels.get(o.id) ?? o.id, fileName: o.files[0]!, uid: o.uid, sid: o.sid, durationMs: o.durationMs })),
    failures: plan.failures.map((f) => ({ sid: f.sid, cname: f.cname, uid: f.uid, error: f.error })),
  };
}

interface OneContext {
  paths: Map<string, string>;
  missing: Map<string, string>;
  cache: RenderCache;
  threads?: number;
  progress: (p: Partial<RunProgress> & Pick<RunProgress, 'phase'>) => void;
}

/**
 * Renders one output into temporary names beside its final ones, reads every written file back (a full disk
 * can leave a file without its index even when ffmpeg exits 0), and renames them into place: the output
 * itself last, so that it appears only when everything that belongs to it is there.
 */
async function renderOne<O extends RunOptions, P extends PlannedOutput>(kind: Kind<O, P, ResultBase>, output: P, outDir: string, options: O, ctx: OneContext): Promise<Rendered> {
  const unique = randomBytes(4).toString('hex');
  const temps = new Map(output.files.map((f) => [f, partialName(outputPath(outDir, f), unique)]));
  for (const dir of new Set([...temps.values()].map((t) => path.dirname(t)))) await mkdir(dir, { recursive: true });
  const workDir = await mkdtemp(workPrefix());
  try {
    const rendered = await kind.render(
      output,
      {
        paths: ctx.paths,
        missing: ctx.missing,
        workDir,
        temp: (file) => {
          const temp = temps.get(file);
          if (!temp) throw new Error(`${file} is not a file of ${output.id}`);
          return temp;
        },
        cache: ctx.cache,
        preset: options.preset ?? DEFAULT_PRESET,
        threads: ctx.threads,
        signal: options.signal,
        onProgress: (positionMs, speed) =>
          ctx.progress({ phase: kind.phase, positionMs, speed, fraction: Math.min(1, positionMs / Math.max(1, output.durationMs)) }),
      },
      options,
    );
    // What happened on the output's clock, beside it (a sidecar of the output: written, read back and renamed with it).
    const events = kind.events?.(output);
    if (events && rendered.written.includes(output.files[0]!)) {
      const sidecars: [string, string][] = [
        [eventsFileName(output.files[0]!), `${JSON.stringify(events, null, 1)}\n`],
        [chaptersFileName(output.files[0]!), chaptersVtt(events)],
      ];
      for (const [name, text] of sidecars) {
        await writeFile(temps.get(name) ?? fail(`${name} is not a file of ${output.id}`), text, { flag: 'wx' });
        rendered.written.push(name);
      }
      rendered.events = events;
    }
    let durationMs = rendered.durationMs;
    for (const [i, name] of rendered.written.entries()) {
      const measured = await verify(temps.get(name)!, name, rendered, options.signal);
      if (i === 0 && measured !== null) durationMs = measured;
    }
    const order = [...rendered.written.filter((f) => f !== output.files[0]), ...rendered.written.filter((f) => f === output.files[0])];
    for (const name of order) await rename(temps.get(name)!, outputPath(outDir, name));
    return { ...rendered, durationMs };
  } finally {
    await Promise.all([...temps.values()].map((t) => rm(t, { force: true })));
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Reads a written file back as what it claims to be; returns a media file's length. Throws (and the file is removed) when it is not. */
async function verify(temp: string, name: string, rendered: Rendered, signal?: AbortSignal): Promise<number | null> {
  const streams = rendered.media?.[name];
  if (streams) {
    let check;
    try {
      check = await probeOutput(temp, signal);
    } catch (error) {
      throw new Error(`${name}: the written file cannot be read back (${(error as Error).message.split('\n').at(-1)}); it was removed`, { cause: error });
    }
    const missing = [streams.video && !check.hasVideo && 'video', streams.audio && !check.hasAudio && 'audio'].filter(Boolean);
    if (missing.length > 0) throw new Error(`${name}: the written file has no ${missing.join(' or ')} stream; it was removed`);
    if (!(check.durationMs > 0)) throw new Error(`${name}: the written file is empty; it was removed`);
    return check.durationMs;
  }
  const data = await readFile(temp);
  if (data.length === 0) throw new Error(`${name}: the written file is empty; it was removed`);
  if (/\.jpe?g$/i.test(name) && !(data[0] === 0xff && data[1] === 0xd8 && data.at(-2) === 0xff && data.at(-1) === 0xd9)) {
    throw new Error(`${name}: the written picture is not a whole JPEG; it was removed`);
  }
  if (/\.json$/i.test(name)) JSON.parse(data.toString('utf8'));
  return null;
}

// Parsing untrusted bytes where a bug cannot take the process with it: slices are read (see slice-read.ts)
// in a small pool of reader threads (node:worker_threads), each with a heap limit (resourceLimits) and a
// time budget per read, cancelled with the run's AbortSignal. A read that runs out of time or memory, or
// whose thread dies, ends that thread (a new one takes its place) and rejects with ContainedReadError: the
// caller makes that slice unreadable (or asks ffprobe), everything else goes on. The main thread never
// waits on a parse, so SIGINT/SIGTERM are honoured at every moment.
//
// Written here rather than with a pool library: piscina (the well-kept one) cost about 7x the main-thread
// CPU per task of a bare MessagePort round trip in a 10,000-task trial (a dry run reads ~100,000 slices),
// starts a task's only timeout (its AbortSignal) while it still waits in the queue, and left a task pending
// forever when its worker failed to start. Each read here gets its budget from the moment a thread takes it.
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MediaKind, SliceContainer } from '../core/types.js';

/** A read that ended without an answer: out of time or memory, or its thread died. The message says which. */
export class ContainedReadError extends Error {}

export type ReadTask =
  | { kind: 'media'; file: string; container: SliceContainer; media: MediaKind }
  | { kind: 'facts'; file: string; container: SliceContainer; withLength: boolean };

/** What a reader thread answers: the value, or why not (`refused`: the slice cannot be used, a SliceMediaError). */
export type ReadOutcome = { ok: true; value: unknown } | { ok: false; refused: boolean; message: string };

/** Heap of one reader thread (MB): 130,000 units of a TS slice or a 330 s Opus slice at 2.5 ms frames need a few tens. */
export const READER_HEAP_MB = 128;
/** A read's time budget: this much, plus BUDGET_MS_PER_MB for every MB of the file (a busy machine reads slowly). */
const BUDGET_BASE_MS = 10_000;
const BUDGET_MS_PER_MB = 1000;
/** Reader threads at most (each holds up to READER_HEAP_MB). */
const POOL_SIZE = Math.max(1, Math.min(4, availableParallelism()));
/**
 * A thread costs about 0.2-0.3 s of CPU to start (an isolate, its modules compiled), more than it takes to read
 * a few dozen slices: another one starts only when this many reads wait for each thread there is.
 */
const BACKLOG_PER_READER = 64;
/** How long a new reader thread may take to load its module (tsx compiles it under tests; a busy machine is slow). */
const STARTUP_MS = 60_000;
/** Files the reader of one engine gave up on, remembered (bounded) so a second read goes straight to the fallback. */
const GAVE_UP_MAX = 10_000;

export const readBudgetMs = (bytes: number) => BUDGET_BASE_MS + (bytes / 1e6) * BUDGET_MS_PER_MB;

interface Job {
  id: number;
  task: ReadTask;
  budgetMs: number;
  resolve: (outcome: ReadOutcome) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Reader {
  worker: Worker;
  /** The thread has loaded its module: a failure before this is a broken install, not a slice. */
  ready: boolean;
  job: Job | null;
  timer?: NodeJS.Timeout;
}

/** The reader thread's module: the built .js beside this file, else the .ts source run through tsx (tests, `tsx src/cli.ts`). */
function readerEntry(): { script: URL | string; eval?: true } {
  const js = new URL('./parse-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { script: js };
  // The .ts entry is imported once tsx's loader is registered in the thread (an inherited `--import tsx`
  // does not reach a worker's entry in every host: vitest's, for one).
  const tsx = import.meta.resolve('tsx/esm/api');
  const ts = new URL('./parse-worker.ts', import.meta.url).href;
  return { script: `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(ts)}); })`, eval: true };
}

let entry: ReturnType<typeof readerEntry> | undefined;
const readers = new Set<Reader>();
const queue: Job[] = [];
let nextId = 0;

function spawn(): Reader {
  entry ??= readerEntry();
  const worker = new Worker(entry.script, {
    eval: entry.eval,
    resourceLimits: { maxOldGenerationSizeMb: READER_HEAP_MB },
  });
  const reader: Reader = { worker, ready: false, job: null };
  worker.on('message', (message: { ready?: true; id?: number; outcome?: ReadOutcome }) => {
    if (message.ready) {
      reader.ready = true;
      clearTimeout(reader.timer);
      if (reader.job) startBudget(reader, reader.job);
    } else if (reader.job && message.id === reader.job.id && message.outcome) finish(reader, message.outcome);
  });
  // A thread that never starts is a broken install (or a machine far too busy): said, not waited for.
  reader.timer = setTimeout(() => drop(reader, new Error(`the slice reader thread did not start within ${STARTUP_MS / 1000} s`)), STARTUP_MS);
  // A thread with a read to do holds the process (worker.ref() in pump); one started ahead (warmReaders) does not.
  reader.timer.unref();
  worker.unref();
  worker.on('error', (error: Error & { code?: string }) => {
    const why =
      error.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new ContainedReadError(`reading it needed more than ${READER_HEAP_MB} MB of memory`)
        : reader.ready
          ? new ContainedReadError(`its reader failed (${error.message})`)
          : new Error(`the slice reader thread could not start: ${error.message}`, { cause: error });
    drop(reader, why);
  });
  worker.on('exit', (code) => drop(reader, new ContainedReadError(`its reader stopped (exit code ${code})`)));
  readers.add(reader);
  return reader;
}

/** Takes a reader out of the pool (terminating its thread) and fails its read, if any. */
function drop(reader: Reader, why: unknown): void {
  if (!readers.delete(reader)) return;
  clearTimeout(reader.timer);
  void reader.worker.terminate();
  const job = reader.job;
  reader.job = null;
  if (job) settle(job, () => job.reject(why));
  pump();
}

function startBudget(reader: Reader, job: Job): void {
  clearTimeout(reader.timer);
  reader.timer = setTimeout(() => drop(reader, new ContainedReadError(`reading it took longer than ${(job.budgetMs / 1000).toFixed(0)} s`)), job.budgetMs);
}

function settle(job: Job, done: () => void): void {
  if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
  done();
}

function finish(reader: Reader, outcome: ReadOutcome): void {
  const job = reader.job!;
  clearTimeout(reader.timer);
  reader.job = null;
  // An idle thread does not keep the process alive.
  reader.worker.unref();
  settle(job, () => job.resolve(outcome));
  pump();
}

function pump(): void {
  while (queue.length > 0) {
    let reader = [...readers].find((r) => r.job === null);
    if (!reader) {
      if (readers.size >= POOL_SIZE || (readers.size > 0 && queue.length <= BACKLOG_PER_READER * readers.size)) return;
      reader = spawn();
    }
    const job = queue.shift()!;
    const r = reader;
    r.job = job;
    r.worker.ref();
    // The budget counts from when the thread can read (its start-up, slow on a busy machine, is not the slice's).
    if (r.ready) startBudget(r, job);
    r.worker.postMessage({ id: job.id, task: job.task });
  }
}

/**
 * Starts a reader thread ahead of the first read, so that their modules load while the run does other
 * things (asks the tools their version, lists the source). Idle threads do not keep the process alive.
 */
export function warmReaders(): void {
  if (readers.size === 0) spawn();
}

/** Runs one read in a reader thread. Rejects with ContainedReadError (see there), or with the signal's reason. */
function run(task: ReadTask, budgetMs: number, signal?: AbortSignal): Promise<ReadOutcome> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const job: Job = { id: nextId++, task, budgetMs, resolve, reject, signal };
    if (signal) {
      job.onAbort = () => {
        const queued = queue.indexOf(job);
        if (queued >= 0) queue.splice(queued, 1);
        const running = [...readers].find((r) => r.job === job);
        if (running) drop(running, signal.reason);
        else settle(job, () => reject(signal.reason));
      };
      signal.addEventListener('abort', job.onAbort, { once: true });
    }
    queue.push(job);
    pump();
  });
}

const gaveUp = new Map<string, string>();
const engineOf = (task: ReadTask) => (task.kind === 'media' && task.container === 'ts' ? 'scanner' : 'mediabunny');

/**
 * Reads a slice in a reader thread, with a budget that grows with its size. A file one engine (mediabunny,
 * or our TS scanner) already gave up on is not read by it again: the same ContainedReadError comes at once.
 */
export async function readContained(task: ReadTask, signal?: AbortSignal): Promise<ReadOutcome> {
  let stat;
  try {
    stat = statSync(task.file);
  } catch (error) {
    return { ok: false, refused: true, message: (error as Error).message };
  }
  const key = `${engineOf(task)}\0${task.file}\0${stat.size}\0${stat.mtimeMs}`;
  const before = gaveUp.get(key);
  if (before !== undefined) throw new ContainedReadError(before);
  try {
    return await run(task, readBudgetMs(stat.size), signal);
  } catch (error) {
    if (error instanceof ContainedReadError) {
      if (gaveUp.size >= GAVE_UP_MAX) gaveUp.clear();
      gaveUp.set(key, error.message);
    }
    throw error;
  }
}

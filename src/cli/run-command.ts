// The one way `merge`, `compose` and `snapshots` run on the command line: the flags they share
// (--dry-run, --json, -q, --verbose, --progress-json, --force, --upload, --concurrency, storage options),
// cancellation on SIGINT/SIGTERM, the progress display, where each line of the report goes, and the exit
// code. A command only says how to call its library entry point and how its results read.
import { fstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { shellQuote } from '../ffmpeg/runner.js';
import type { ResultBase, RunOptions, SummaryBase } from '../options.js';
import { addStorageOptions, storageOptionsFrom, type StorageFlags } from './merge-options.js';
import { printableDeep, printableJson, printableLines } from './printable.js';
import type { ReportLine } from './report.js';
import { painter, writeLine } from './terminal.js';

export interface RunFlags extends StorageFlags {
  out: string;
  concurrency?: number;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  progressJson?: number | true;
  force?: boolean;
  upload?: string;
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`concurrency must be a whole number of 1 or more (got ${value})`);
  return n;
};

const fileDescriptor = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--progress-json takes a file descriptor number such as 2 or 3 (got ${value})`);
  return n;
};

/** The flags every recording command has, after its own. */
export function addRunOptions(cmd: Command, what: { things: string; concurrency: string }): Command {
  cmd
    .requiredOption('-o, --out <dir>', 'output folder (not inside the source folder)')
    .option('--concurrency <n>', `${what.things} made in parallel (default: ${what.concurrency})`, positiveInt)
    .option('--dry-run', 'print the plan (what would be made, how and why) and stop')
    .option('--json', 'print a machine-readable summary (or error) on stdout, and nothing else there')
    .option('-q, --quiet', 'no progress display (warnings and failures are still printed on stderr)')
    .option('--verbose', 'print every ffmpeg/ffprobe command line, as it would be typed, on stderr')
    .addOption(new Option('--progress-json [fd]', 'progress as one JSON event per line, on stderr or on this file descriptor').argParser(fileDescriptor))
    .option('--force', 'redo every output, even one already made from the same inputs and options')
    .option('--upload <s3url>', `upload finished ${what.things} to s3://bucket/prefix`);
  return addStorageOptions(cmd);
}

/** Cancels on the first SIGINT/SIGTERM; the library removes partial files and rethrows. */
export function interruptSignal(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (!controller.signal.aborted) process.stderr.write(`\n${name}: stopping, removing unfinished files...\n`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * Everything printed comes partly from the recording (keys, cnames): reports are built from data made
 * printable first (printableDeep), JSON escapes what JSON.stringify lets through; this is a last guard.
 */
export const print = (text: string) => writeLine(process.stdout, printableLines(text));

/** The library options the shared flags stand for. */
type Common = Pick<RunOptions, 'source' | 'outDir' | 'concurrency' | 'force' | 'upload' | 'signal' | 'onCommand' | 'onStart' | 'onPlan' | 'onProgress'> & ReturnType<typeof storageOptionsFrom>;

/**
 * Why a file descriptor cannot take progress events, or null when it can. Node holds descriptors of its own
 * (event loop, wake-up pipes): a number the caller did not open may well be one of them, and writing there
 * would be lost or worse. On Linux /proc tells which is which: a descriptor given to us is open for writing,
 * and is not an inode of the runtime's own (an anonymous inode, or a pipe whose other end we hold).
 */
function notOpenForUs(fd: number): string | null {
  try {
    fstatSync(fd);
  } catch {
    return 'is not open';
  }
  const proc = (what: string, n: number) => {
    try {
      return what === 'fd' ? readlinkSync(`/proc/self/fd/${n}`) : readFileSync(`/proc/self/fdinfo/${n}`, 'utf8');
    } catch {
      return null;
    }
  };
  const info = proc('fdinfo', fd);
  const target = proc('fd', fd);
  if (info === null || target === null) return null; // not Linux: write errors are all we can see
  const writable = (text: string | null) => {
    const flags = /^flags:\s*([0-7]+)/m.exec(text ?? '')?.[1];
    return flags !== undefined && (Number.parseInt(flags, 8) & 3) !== 0;
  };
  if (!writable(info)) return 'is not open for writing';
  if (target.startsWith('anon_inode:')) return 'is not open (the number is one of the runtime\'s own)';
  if (target.startsWith('pipe:')) {
    for (const other of readdirSync('/proc/self/fd')) {
      const n = Number(other);
      if (n !== fd && proc('fd', n) === target && !writable(proc('fdinfo', n))) return 'is not open (the number is one of the runtime\'s own pipes)';
    }
  }
  return null;
}

export interface RecordingCommand<S extends SummaryBase<ResultBase>, P> {
  source: string;
  flags: RunFlags;
  /** The plan only (`--dry-run`), and how it reads. */
  plan(common: Common): Promise<P>;
  formatPlan(plan: P): string;
  /** Whether a plan holds failures (exit 1). */
  planFailed(plan: P): boolean;
  run(common: Common): Promise<S>;
  report(summary: S): ReportLine[];
}

export async function runRecordingCommand<S extends SummaryBase<ResultBase>, P>(command: RecordingCommand<S, P>): Promise<void> {
  const { source, flags } = command;
  const jsonFd = flags.progressJson === true ? 2 : flags.progressJson;
  if (jsonFd === 1 && flags.json) throw new UsageError('--progress-json 1 would mix progress into the --json summary on stdout: use 2 (stderr) or another descriptor');
  if (jsonFd !== undefined && jsonFd > 2) {
    const why = notOpenForUs(jsonFd);
    if (why) throw new UsageError(`--progress-json ${jsonFd}: file descriptor ${jsonFd} ${why} (open it for the command, e.g. \`${jsonFd}>progress.jsonl\`)`);
  }
  const { progressView } = await import('./progress.js');
  const { signal, release } = interruptSignal();
  const view = flags.dryRun ? null : progressView({ source, quiet: flags.quiet === true || (flags.json === true && !process.stderr.isTTY), jsonFd, json: flags.json });
  const onCommand = flags.verbose
    ? (line: string[]) => {
        if (view?.command) view.command(line);
        else if (view) view.log(`$ ${shellQuote(line)}`);
        else process.stderr.write(`$ ${shellQuote(line)}\n`);
      }
    : undefined;
  const common: Common = {
    source,
    outDir: flags.out,
    concurrency: flags.concurrency,
    force: flags.force,
    upload: flags.upload,
    ...storageOptionsFrom(flags),
    signal,
    onCommand,
    onStart: view ? () => view.start() : undefined,
    onPlan: view ? (plan) => view.plan(plan) : undefined,
    onProgress: view ? (p) => view.update(p) : undefined,
  };
  try {
    if (flags.dryRun) {
      const plan = await command.plan(common);
      print(flags.json ? printableJson(plan) : command.formatPlan(printableDeep(plan)));
      process.exitCode = command.planFailed(plan) ? 1 : 0;
      return;
    }
    let summary: S;
    try {
      summary = await command.run(common);
    } catch (error) {
      view?.finish(null);
      throw error;
    }
    if (flags.json) print(printableJson(summary));
    const paint = { stdout: painter(process.stdout), stderr: painter(process.stderr) };
    const lines = command.report(printableDeep(summary));
    // JSON events on stderr: the report's stderr lines become events too (before `end`), so that stderr stays parseable.
    const asEvents = jsonFd !== undefined && view !== null;
    if (asEvents) for (const line of lines) if (line.to === 'stderr') view.log(printableLines(line.text), line.kind);
    view?.finish(summary);
    for (const line of lines) {
      // With --json, stdout holds the JSON alone; failures and warnings still reach stderr.
      if (flags.json && line.to === 'stdout') continue;
      if (asEvents && line.to === 'stderr' && jsonFd === 2) continue;
      const colour = line.kind === 'failed' ? 'red' : line.kind === 'warning' ? 'yellow' : line.kind === 'ok' ? 'green' : null;
      const stream = line.to === 'stdout' ? process.stdout : process.stderr;
      const text = printableLines(line.text);
      writeLine(stream, colour ? paint[line.to](colour, text) : text);
    }
    process.exitCode = summary.ok ? 0 : 1;
  } finally {
    release();
  }
}

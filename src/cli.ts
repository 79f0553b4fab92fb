// The command line: a thin layer over the library. Exit codes: 0 all written, 1 some failed, 2 usage.
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { inspectRecordings, mergeRecordings, planRecordings, UsageError } from './api.js';
import { addPlanOptions, addStorageOptions, planOptionsFrom, storageOptionsFrom, type PlanFlags, type StorageFlags } from './cli/merge-options.js';
import { printableDeep, printableJson, printableLines } from './cli/printable.js';
import { progressView } from './cli/progress.js';
import { registerQueueCommands } from './cli/queue-commands.js';
import { formatInspect, formatPlan, formatSummary } from './cli/report.js';
import { summarizeInventory } from './core/summary.js';
import { FfmpegError, ToolNotFoundError } from './ffmpeg/runner.js';

interface MergeFlags extends PlanFlags, StorageFlags {
  out: string;
  concurrency?: number;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  force?: boolean;
  upload?: string;
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`concurrency must be a whole number of 1 or more (got ${value})`);
  return n;
};

/** Cancels on the first SIGINT/SIGTERM; the library removes partial files and rethrows. */
function interruptSignal(): { signal: AbortSignal; release: () => void } {
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

function packageVersion(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

/** Reports are built from data made printable first (printableDeep); this is a last guard. */
const print = (text: string) => process.stdout.write(printableLines(text.endsWith('\n') ? text : `${text}\n`));
const printError = (text: string) => process.stderr.write(printableLines(text));

export function buildProgram(): Command {
  const program = new Command('recmerge')
    .description('Merge individual-mode cloud recordings (per-UID M3U8 + TS/WebM slices) into one wall-clock-synced MP4 per user.')
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride();

  const merge = program
    .command('merge')
    .description('merge a recording folder or s3://bucket/prefix into one file per user')
    .argument('<source>', 'folder with the downloaded recording, or s3://bucket/prefix')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('--concurrency <n>', 'outputs merged in parallel (default: CPU count)', positiveInt)
    .option('--dry-run', 'print the plan (what would be merged, how and why) and stop')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('-q, --quiet', 'no progress output')
    .option('--force', 'redo outputs that already exist')
    .option('--upload <s3url>', 'upload finished files to s3://bucket/prefix');
  addPlanOptions(merge);
  addStorageOptions(merge);
  merge.action(async (source: string, flags: MergeFlags) => {
    const common = { source, ...planOptionsFrom(flags), ...storageOptionsFrom(flags) };
    const { signal, release } = interruptSignal();
    try {
      if (flags.dryRun) {
        const plan = await planRecordings({ ...common, outDir: flags.out, signal });
        print(flags.json ? printableJson(plan) : formatPlan(printableDeep(plan)));
        process.exitCode = plan.failures.length > 0 ? 1 : 0;
        return;
      }
      const view = progressView(flags.quiet === true || (flags.json === true && !process.stderr.isTTY));
      const summary = await mergeRecordings({
        ...common,
        outDir: flags.out,
        concurrency: flags.concurrency,
        force: flags.force,
        upload: flags.upload,
        signal,
        onProgress: view ? (p) => view.update(p) : undefined,
      }).finally(() => view?.stop());
      if (flags.json) print(printableJson(summary));
      else if (!flags.quiet || !summary.ok) print(formatSummary(printableDeep(summary)));
      process.exitCode = summary.ok ? 0 : 1;
    } finally {
      release();
    }
  });

  const inspect = program
    .command('inspect')
    .description('show what a recording holds (sessions, UIDs, tracks, spans, gaps, problems) without merging')
    .argument('<source>', 'folder or s3://bucket/prefix')
    .option('--json', 'machine-readable output');
  addStorageOptions(inspect);
  inspect.action(async (source: string, flags: StorageFlags & { json?: boolean }) => {
    const summary = summarizeInventory(await inspectRecordings(source, storageOptionsFrom(flags)));
    print(flags.json ? printableJson(summary) : formatInspect(printableDeep(summary)));
    const failed = summary.sessions.some((s) => s.uids.some((u) => u.failed));
    process.exitCode = failed ? 1 : 0;
  });

  registerQueueCommands(program);
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so it can be tested in-process. */
export async function main(argv: string[]): Promise<number> {
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      printError(`recmerge: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ToolNotFoundError) {
      printError(`recmerge: ${error.message}\n`);
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    printError(`recmerge: ${message}\n`);
    if (error instanceof FfmpegError) printError(`command: ${error.commandLine}\n${error.stderrTail}\n`);
    return /interrupted by SIG/.test(message) ? 130 : 1;
  }
}

const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}

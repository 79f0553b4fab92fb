// The command line: a thin layer over the library. Exit codes: 0 all written, 1 some failed, 2 usage.
// Only commander is loaded up front: `--version` and `--help` start at once, and the library (and the AWS
// SDK or BullMQ, only where a command needs them) is imported by the command that runs.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { addExamples } from './cli/examples.js';
import { addPlanOptions, addStorageOptions, planOptionsFrom, storageOptionsFrom, type PlanFlags, type StorageFlags } from './cli/merge-options.js';
import { registerComposeCommands } from './cli/compose-commands.js';
import { registerQueueCommands } from './cli/queue-commands.js';
import { printable, printableDeep, printableJson, printableLines } from './cli/printable.js';
import { painter, writeLine } from './cli/terminal.js';
import { FfmpegError, shellQuote, ToolNotFoundError } from './ffmpeg/runner.js';

interface MergeFlags extends PlanFlags, StorageFlags {
  out: string;
  concurrency?: number;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  progressJson?: number | true;
  force?: boolean;
  upload?: string;
  alsoAudio?: boolean;
}

/** Usage errors found by the CLI itself (the library's are its UsageError; both exit 2). */
class CliUsageError extends Error {
  override name = 'UsageError';
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliUsageError(`concurrency must be a whole number of 1 or more (got ${value})`);
  return n;
};

const fileDescriptor = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliUsageError(`--progress-json takes a file descriptor number such as 2 or 3 (got ${value})`);
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
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Everything printed comes partly from the recording (keys, cnames): reports are built from data made
 * printable first (printableDeep), JSON escapes what JSON.stringify lets through; this is a last guard.
 */
const print = (text: string) => writeLine(process.stdout, printableLines(text));

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
    .requiredOption('-o, --out <dir>', 'output folder (not inside the source folder)')
    .option('--concurrency <n>', 'outputs merged in parallel (default: CPU count)', positiveInt)
    .option('--dry-run', 'print the plan (what would be merged, how and why) and stop')
    .option('--json', 'print a machine-readable summary (or error) on stdout, and nothing else there')
    .option('-q, --quiet', 'no progress display (warnings and failures are still printed on stderr)')
    .option('--verbose', 'print every ffmpeg/ffprobe command line, as it would be typed, on stderr')
    .addOption(new Option('--progress-json [fd]', 'progress as one JSON event per line, on stderr or on this file descriptor').argParser(fileDescriptor))
    .option('--force', 'redo every output, even one already made from the same inputs and options')
    .option('--upload <s3url>', 'upload finished files to s3://bucket/prefix')
    .option('--also-audio', "also write each MP4's audio as .m4a beside it (the script's -a; the audio is read once)");
  addPlanOptions(merge);
  addStorageOptions(merge);
  merge.action(async (source: string, flags: MergeFlags) => {
    const { mergeRecordings, planRecordings } = await import('./api.js');
    const { formatPlan, summaryLines } = await import('./cli/report.js');
    const { progressView } = await import('./cli/progress.js');
    const common = { source, ...planOptionsFrom(flags), ...storageOptionsFrom(flags) };
    const jsonFd = flags.progressJson === true ? 2 : flags.progressJson;
    if (jsonFd === 1 && flags.json) throw new CliUsageError('--progress-json 1 would mix progress into the --json summary on stdout: use 2 (stderr) or another descriptor');
    const { signal, release } = interruptSignal();
    const view = flags.dryRun ? null : progressView({ source, quiet: flags.quiet === true || (flags.json === true && !process.stderr.isTTY), jsonFd, json: flags.json });
    const onCommand = flags.verbose
      ? (command: string[]) => {
          if (view?.command) view.command(command);
          else if (view) view.log(`$ ${shellQuote(command)}`);
          else process.stderr.write(`$ ${shellQuote(command)}\n`);
        }
      : undefined;
    try {
      if (flags.dryRun) {
        const plan = await planRecordings({ ...common, outDir: flags.out, signal, onCommand });
        print(flags.json ? printableJson(plan) : formatPlan(printableDeep(plan)));
        process.exitCode = plan.failures.length > 0 ? 1 : 0;
        return;
      }
      let summary = null;
      try {
        summary = await mergeRecordings({
          ...common,
          outDir: flags.out,
          concurrency: flags.concurrency,
          force: flags.force,
          upload: flags.upload,
          alsoAudio: flags.alsoAudio,
          signal,
          onPlan: view ? (plan) => view.plan(plan) : undefined,
          onProgress: view ? (p) => view.update(p) : undefined,
          onCommand,
        });
      } finally {
        view?.finish(summary);
      }
      if (flags.json) print(printableJson(summary));
      const paint = { stdout: painter(process.stdout), stderr: painter(process.stderr) };
      for (const line of summaryLines(printableDeep(summary))) {
        // With --json, stdout holds the JSON alone; failures and warnings still reach stderr.
        if (flags.json && line.to === 'stdout') continue;
        // JSON events on stderr: the report's stderr lines become events too, so that stderr stays parseable.
        if (jsonFd === 2 && line.to === 'stderr' && view) {
          view.log(printableLines(line.text), line.kind);
          continue;
        }
        const colour = line.kind === 'failed' ? 'red' : line.kind === 'warning' ? 'yellow' : line.kind === 'ok' ? 'green' : null;
        const stream = line.to === 'stdout' ? process.stdout : process.stderr;
        const text = printableLines(line.text);
        writeLine(stream, colour ? paint[line.to](colour, text) : text);
      }
      process.exitCode = summary.ok ? 0 : 1;
    } finally {
      release();
    }
  });

  const inspect = program
    .command('inspect')
    .description('show what a recording holds (sessions, UIDs, tracks, spans, gaps, problems) without merging')
    .argument('<source>', 'folder or s3://bucket/prefix')
    .option('--json', 'machine-readable output')
    .option('--html <file>', 'also draw the recording as a timeline in a self-contained HTML file');
  addStorageOptions(inspect);
  inspect.action(async (source: string, flags: StorageFlags & { json?: boolean; html?: string }) => {
    const { inspectRecordings } = await import('./api.js');
    const { summarizeInventory } = await import('./core/summary.js');
    const { formatInspect } = await import('./cli/report.js');
    const inventory = await inspectRecordings(source, storageOptionsFrom(flags));
    const summary = summarizeInventory(inventory);
    if (flags.html) {
      const { writeTimeline } = await import('./cli/timeline-file.js');
      const file = await writeTimeline(flags.html, inventory, source);
      process.stderr.write(`timeline: ${printable(file)}\n`);
    }
    print(flags.json ? printableJson(summary) : formatInspect(printableDeep(summary)));
    const failed = summary.sessions.some((s) => s.uids.some((u) => u.failed));
    process.exitCode = failed ? 1 : 0;
  });

  registerQueueCommands(program);
  registerComposeCommands(program, interruptSignal);
  addExamples(program);
  return program;
}

function usageJson(message: string): string {
  return printableJson({ ok: false, exitCode: 2, error: message.replace(/^error: /, '') });
}

/** Runs the CLI; returns the exit code instead of exiting, so it can be tested in-process. */
export async function main(argv: string[]): Promise<number> {
  process.exitCode = undefined;
  // The AWS SDK's 9-line notice that its 2027 releases will need Node 22 is shown by no command of ours
  // (recmerge supports Node >= 20; see README). Users who want it back set the variable to anything else.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const json = argv.includes('--json');
  const red = (text: string) => painter(process.stderr)('red', text);
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0; commander has already printed the message.
      if (error.exitCode === 0) return 0;
      if (json) print(usageJson(error.message));
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    if ((error instanceof Error && error.name === 'UsageError') || error instanceof ToolNotFoundError) {
      process.stderr.write(`${red('recmerge:')} ${printableLines(message)}\n`);
      if (json) print(usageJson(message));
      return 2;
    }
    process.stderr.write(`${red('recmerge:')} ${printableLines(message)}\n`);
    if (error instanceof FfmpegError) process.stderr.write(printableLines(`command: ${error.commandLine}\n${error.stderrTail}\n`));
    const interrupted = /interrupted by SIG/.test(message);
    if (json) print(printableJson({ ok: false, exitCode: interrupted ? 130 : 1, error: message }));
    return interrupted ? 130 : 1;
  }
}

const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}

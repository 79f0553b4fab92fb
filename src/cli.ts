// The command line: a thin layer over the library. Exit codes: 0 all written, 1 some failed, 2 usage.
// Only commander is loaded up front: `--version` and `--help` start at once, and the library (and the AWS
// SDK or BullMQ, only where a command needs them) is imported by the command that runs.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { addExamples } from './cli/examples.js';
import { addPlanOptions, addStorageOptions, planOptionsFrom, storageOptionsFrom, type PlanFlags, type StorageFlags } from './cli/merge-options.js';
import { addRunOptions, print, runRecordingCommand, type RunFlags } from './cli/run-command.js';
import { registerComposeCommands } from './cli/compose-commands.js';
import { registerQueueCommands } from './cli/queue-commands.js';
import { printable, printableDeep, printableJson, printableLines } from './cli/printable.js';
import { painter } from './cli/terminal.js';
import { FfmpegError, ToolNotFoundError } from './ffmpeg/runner.js';

interface MergeFlags extends PlanFlags, RunFlags {
  alsoAudio?: boolean;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

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
    .option('--also-audio', "also write each MP4's audio as .m4a beside it (the script's -a; the audio is read once)");
  addPlanOptions(merge);
  addRunOptions(merge, { things: 'outputs', concurrency: 'CPU count' });
  merge.action(async (source: string, flags: MergeFlags) => {
    const { mergeRecordings, planRecordings } = await import('./api.js');
    const { formatPlan, mergeWords, summaryLines } = await import('./cli/report.js');
    const options = planOptionsFrom(flags);
    await runRecordingCommand({
      source,
      flags,
      plan: (common) => planRecordings({ ...common, ...options }),
      formatPlan,
      planFailed: (plan) => plan.failures.length > 0,
      run: (common) => mergeRecordings({ ...common, ...options, alsoAudio: flags.alsoAudio }),
      report: (summary) => summaryLines(summary, mergeWords),
    });
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
    // A source that holds no recording at all is a problem found before any work, as for every command.
    if (inventory.sessions.length === 0) {
      process.stderr.write(`${painter(process.stderr)('red', 'recmerge:')} ${printableLines(`no recording found in ${source}: ${inventory.ignored.length ? `${inventory.ignored.length} file(s), none of them a recording's playlist or slice` : 'no files at all'}`)}\n`);
      process.exitCode = 2;
    }
  });

  registerQueueCommands(program);
  registerComposeCommands(program);
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

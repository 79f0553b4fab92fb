// `recmerge worker | enqueue | serve`. Exit codes: 0 done, 1 runtime failure, 2 usage error.
import path from 'node:path';
// BullMQ and ioredis are imported by the command that runs, so that other commands start fast.
import { Option, type Command } from 'commander';
import { JobDataError, parseJobData, type MergeJobOptions } from '../queue/job.js';
import { NotificationError } from '../queue/notification.js';
import { NotAllowedError } from '../queue/trust.js';
import { printable, printableLines } from './printable.js';
import { addPlanOptions, planOptionsFrom, type PlanFlags } from './merge-options.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

type MergeFlags = PlanFlags & { concurrency?: string; force?: boolean; endpoint?: string; region?: string; pathStyle?: boolean };

function redisOption(): Option {
  return new Option('--redis <url>', 'Redis URL (redis://[user:password@]host:port[/db], rediss:// for TLS)').env('RECMERGE_REDIS').makeOptionMandatory();
}

/** The `merge` command's flags that make sense inside a job (the download cache is the worker's business). */
function addMergeFlags(command: Command): Command {
  return addPlanOptions(command)
    .option('--concurrency <n>', 'outputs merged in parallel inside the job')
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, OSS, COS, ...)')
    .option('--region <region>', 'S3 region')
    .option('--path-style', 'path-style S3 addressing (MinIO and most self-hosted stores)');
}

function number(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new JobDataError(`${flag}: not a number: ${value}`);
  return n;
}

export function mergeJobOptionsFrom(flags: MergeFlags): MergeJobOptions {
  const options: Record<string, unknown> = {
    ...planOptionsFrom(flags),
    concurrency: positiveInt('--concurrency', flags.concurrency),
    force: flags.force,
    endpoint: flags.endpoint,
    region: flags.region,
    forcePathStyle: flags.pathStyle,
  };
  // Same checks as the worker applies, so a bad flag fails here and not in a job later.
  return parseJobData({ source: '.', output: '.', options }).options ?? {};
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  const n = number(flag, value);
  if (n !== undefined && (!Number.isInteger(n) || n <= 0)) throw new JobDataError(`${flag}: expected a positive integer, got ${value}`);
  return n;
}

function seconds(flag: string, value: string | undefined): number {
  const n = number(flag, value) ?? 0;
  if (n < 0) throw new JobDataError(`${flag}: expected 0 or more seconds, got ${value}`);
  return n;
}

function isUsageError(error: unknown): boolean {
  return error instanceof JobDataError || error instanceof NotificationError || error instanceof NotAllowedError;
}

/** Runs an action with the exit-code convention; usage errors print through commander. */
function action<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const command = args[args.length - 1] as Command;
    try {
      await run(...args);
    } catch (error) {
      if (isUsageError(error)) command.error(`error: ${(error as Error).message}`, { exitCode: EXIT_USAGE });
      console.error(printableLines(`recmerge ${command.name()}: ${(error as Error).message}`));
      process.exitCode = EXIT_FAILURE;
    }
  };
}

async function checkRedis(url: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5_000 });
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const why = (cause ?? (error as Error)).message;
    throw new Error(`cannot reach Redis at ${url.replace(/\/\/[^@/]*@/, '//***@')}: ${why}`, { cause: error });
  } finally {
    client.disconnect();
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export function registerQueueCommands(program: Command): void {
  program
    .command('worker')
    .description('merge jobs from the Redis queue until SIGTERM/SIGINT')
    .addOption(redisOption())
    .option('--concurrency <n>', 'jobs run in parallel by this process', '1')
    .option('--merge-concurrency <n>', 'outputs merged in parallel inside a job (default: CPU count)')
    .option('--chunk-concurrency <n>', "chunks of any job's long re-encoded outputs (option chunk) encoded at once by this process; 0: none", '1')
    .option('--name <name>', 'this worker in chunk job records (default: <host>:<pid>)')
    .option('--grace <seconds>', 'on SIGTERM: time running jobs get to finish before they are handed back', '600')
    .option('--lock-duration <ms>', 'a job not renewed for this long is stalled and restarted elsewhere', '30000')
    .option('--stalled-interval <ms>', 'how often stalled jobs are looked for', '30000')
    .option('--work-dir <dir>', 'temporary folder for outputs bound for s3://')
    .addOption(
      new Option('--allow <folder-or-s3-prefix...>', 'the only folders and s3://bucket/prefixes a job may read from or write to (required)').makeOptionMandatory(),
    )
    .option('--allow-endpoint <url...>', "S3 endpoints a job may name (default: none, jobs use the worker's default endpoint)")
    .action(
      action(async (flags: Record<string, string> & { allow: string[]; allowEndpoint?: string[] }) => {
        const options = {
          concurrency: positiveInt('--concurrency', flags.concurrency),
          mergeConcurrency: positiveInt('--merge-concurrency', flags.mergeConcurrency),
          chunkConcurrency: flags.chunkConcurrency === '0' ? 0 : positiveInt('--chunk-concurrency', flags.chunkConcurrency),
          graceMs: seconds('--grace', flags.grace) * 1000,
          lockDurationMs: positiveInt('--lock-duration', flags.lockDuration),
          stalledIntervalMs: positiveInt('--stalled-interval', flags.stalledInterval),
        };
        await checkRedis(flags.redis!);
        const { startWorker } = await import('../queue/worker.js');
        // Relative --allow folders mean the worker's own folder here, where the operator typed them.
        const allow = flags.allow.map((a) => (a.toLowerCase().startsWith('s3://') ? a : path.resolve(a)));
        const running = await startWorker({
          redis: flags.redis!,
          ...options,
          allow,
          allowEndpoints: flags.allowEndpoint,
          workDir: flags.workDir,
          ...(flags.name ? { name: flags.name } : {}),
          handleSignals: true,
          // Log lines carry job data (paths, reasons): nothing in them may drive the terminal.
          log: (line) => console.error(printable(line)),
        });
        console.error(`recmerge worker: waiting for jobs (concurrency ${options.concurrency}; ${allow.length} allowed location(s))`);
        await running.closed;
      }),
    );

  addMergeFlags(
    program
      .command('enqueue')
      .description('queue a merge job (a no-op if the same merge is already queued or done)')
      .argument('<source>', 'recording folder or s3://bucket/prefix (a relative folder is made absolute here; workers must see the same path)')
      .requiredOption('-o, --output <output>', 'output folder or s3://bucket/prefix (a relative folder is made absolute here)')
      .addOption(redisOption())
      .option('--force', 'merge again even if done before')
      .option('--json', 'print the result as JSON'),
  ).action(
    action(async (source: string, flags: MergeFlags & { output: string; redis: string; json?: boolean }) => {
      const options = mergeJobOptionsFrom(flags);
      const job = parseJobData({ source, output: flags.output, options });
      await checkRedis(flags.redis);
      const { enqueueMerge } = await import('../queue/enqueue.js');
      const result = await enqueueMerge(job, { redis: flags.redis });
      if (flags.json) console.log(JSON.stringify(result));
      else console.log(`${result.id} ${result.created ? 'queued' : result.retried ? 'had failed, queued again' : 'already known (not queued again)'}`);
    }),
  );

  addMergeFlags(
    program
      .command('serve')
      .description("receive the recording service's notifications and queue a merge for each finished upload")
      .addOption(redisOption())
      .requiredOption('--port <port>', 'port to listen on')
      .option('--host <host>', 'address to listen on', '0.0.0.0')
      .addOption(new Option('--secret <secret>', 'notification secret (HMAC key)').env('RECMERGE_NOTIFY_SECRET').makeOptionMandatory())
      .requiredOption('--source <template>', 'where a recording is, e.g. s3://bucket/recordings/{cname}/{sid} (placeholders: {cname} {sid} {uid} {date})')
      .option('--output <template>', 'where its merge goes (default: <source>/merged)')
      .option('--max-connections <n>', 'open connections at most; more are closed at once', '256'),
  ).action(
    action(async (flags: MergeFlags & { redis: string; port: string; host: string; secret: string; source: string; output?: string; maxConnections: string }) => {
      const port = number('--port', flags.port);
      if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new JobDataError(`--port: not a port: ${flags.port}`);
      const mergeOptions = mergeJobOptionsFrom(flags);
      const { checkTemplates, startNotificationServer } = await import('../queue/server.js');
      checkTemplates({ sourceTemplate: flags.source, outputTemplate: flags.output, mergeOptions });
      await checkRedis(flags.redis);
      const server = await startNotificationServer({
        redis: flags.redis,
        port,
        host: flags.host,
        secret: flags.secret,
        sourceTemplate: flags.source,
        outputTemplate: flags.output,
        mergeOptions,
        maxConnections: positiveInt('--max-connections', flags.maxConnections),
        log: (line) => console.error(printable(line)),
      });
      console.error(`recmerge serve: listening on ${server.url} (POST notifications, GET /healthz)`);
      const signal = await waitForSignal();
      console.error(`recmerge serve: ${signal}, closing`);
      await server.close();
    }),
  );
}

// The one place that starts ffmpeg and ffprobe: argument arrays (never a shell), binary lookup,
// -progress parsing, bounded stderr, cancellation, and an error that carries what happened.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

export type Tool = 'ffmpeg' | 'ffprobe';

const STDERR_LIMIT = 64 * 1024;
/** Failures ffmpeg reports and then still exits 0 for (seen with a full disk on ffmpeg 5.1). */
const FATAL_DESPITE_EXIT_0 = /^(?:.*\[(?:error|fatal)\] )?(Error writing trailer of|Error closing file) .*$/m;
/** Level tags ffmpeg puts on every line with `-loglevel level+…` (see RunOptions.inputStats). */
const LEVEL_TAG = /\[(panic|fatal|error|warning|info|verbose|debug|trace)\] /;
const KILL_GRACE_MS = 3000;

export const INSTALL_HINT =
  'Install it (Debian/Ubuntu: `sudo apt-get install ffmpeg`; macOS: `brew install ffmpeg`; Windows: `winget install ffmpeg`) ' +
  'or point FFMPEG_PATH / FFPROBE_PATH at the binaries.';

export class ToolNotFoundError extends Error {
  constructor(
    readonly tool: Tool,
    detail?: string,
  ) {
    super(detail ? `${tool} not found: ${detail}. ${INSTALL_HINT}` : `${tool} not found (looked at ${tool === 'ffmpeg' ? 'FFMPEG_PATH' : 'FFPROBE_PATH'} and PATH). ${INSTALL_HINT}`);
    this.name = 'ToolNotFoundError';
  }
}

/** A failed ffmpeg/ffprobe run: the command line, how it ended, and the end of what it said. */
export class FfmpegError extends Error {
  constructor(
    readonly command: string[],
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderrTail: string,
    readonly aborted = false,
  ) {
    const how = aborted ? 'was cancelled' : exitCode === 0 ? 'reported a failure' : exitCode !== null ? `exited with code ${exitCode}` : `was killed by ${signal}`;
    // With level tags (a run asked for input statistics), what it said wrong is in its error lines.
    const lines = stderrTail.trim().split('\n');
    const said = LEVEL_TAG.test(stderrTail) ? lines.filter((l) => /\[(panic|fatal|error)\] /.test(l)).map((l) => l.replace(LEVEL_TAG, '')) : lines;
    const last = said.slice(-3).join(' | ');
    super(`${path.basename(command[0] ?? 'ffmpeg')} ${how}${last && !aborted ? `: ${last}` : ''}`);
    this.name = 'FfmpegError';
  }

  /** The command line, quoted so it can be pasted into a POSIX shell to reproduce the failure. */
  get commandLine(): string {
    return shellQuote(this.command);
  }
}

/** A command as it would be typed into a POSIX shell (arguments quoted only where needed). */
export function shellQuote(command: string[]): string {
  return command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Told every command line the runner starts (binary first), before it starts. */
export type CommandObserver = (command: string[]) => void;

const observers = new AsyncLocalStorage<CommandObserver>();

/**
 * Runs `fn` so that every ffmpeg/ffprobe started inside it (in its async context, however deep) is first
 * shown to `observer`. Scoped, not global: concurrent callers each see only their own commands.
 */
export function observeCommands<T>(observer: CommandObserver | undefined, fn: () => T): T {
  return observer ? observers.run(observer, fn) : fn();
}

const resolved = new Map<string, string>();

/** FFMPEG_PATH / FFPROBE_PATH when set, else the first match on PATH. */
export function resolveTool(tool: Tool, env: NodeJS.ProcessEnv = process.env): string {
  const variable = tool === 'ffmpeg' ? 'FFMPEG_PATH' : 'FFPROBE_PATH';
  const override = env[variable];
  if (override) {
    let why: string | null = null;
    try {
      if (!statSync(override).isFile()) why = 'is not a file';
      else accessSync(override, constants.X_OK);
    } catch (error) {
      why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not executable';
    }
    if (why) throw new ToolNotFoundError(tool, `${variable}=${override} ${why}`);
    return override;
  }
  const cacheKey = `${tool}\u0000${env.PATH ?? ''}`;
  const hit = resolved.get(cacheKey);
  if (hit) return hit;
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, tool + ext);
      try {
        accessSync(candidate, constants.X_OK);
        resolved.set(cacheKey, candidate);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  throw new ToolNotFoundError(tool);
}

/**
 * ffmpeg must not outlive us, even when we are SIGKILLed (nothing of ours runs then). On Linux the kernel
 * can send a child a signal when its parent dies (PR_SET_PDEATHSIG); Node cannot set it, but util-linux's
 * `setpriv --pdeathsig KILL <tool>` sets it and then execs the tool (same pid, nothing stays in between).
 * Where setpriv is missing (not Linux, a minimal image) tools are started directly: there a SIGKILLed
 * recmerge can still leave an ffmpeg running (SIGINT/SIGTERM stop them in any case).
 * RECMERGE_PDEATHSIG=0 turns the wrapper off.
 */
let deathSignalWrapper: string | null | undefined;

export function parentDeathWrapper(env: NodeJS.ProcessEnv = process.env): string | null {
  if (process.platform !== 'linux' || env.RECMERGE_PDEATHSIG === '0') return null;
  if (deathSignalWrapper === undefined) {
    deathSignalWrapper = null;
    for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', ...(env.PATH ?? '').split(path.delimiter)]) {
      const candidate = path.join(dir, 'setpriv');
      try {
        accessSync(candidate, constants.X_OK);
      } catch {
        continue;
      }
      // Old util-linux versions have setpriv without --pdeathsig.
      if (spawnSync(candidate, ['--pdeathsig', 'KILL', 'true'], { stdio: 'ignore', timeout: 5000 }).status === 0) deathSignalWrapper = candidate;
      break;
    }
  }
  return deathSignalWrapper;
}

/** One `-progress` report block. */
export interface FfmpegProgress {
  /** Output time reached, milliseconds. */
  outTimeMs: number;
  /** x real time, when ffmpeg knows it. */
  speed: number | null;
  frame: number | null;
  done: boolean;
}

export interface RunOptions {
  signal?: AbortSignal;
  /**
   * ffmpeg: also report what was read and decoded from each input (RunResult.inputs), from the statistics
   * ffmpeg prints at the verbose level when it ends. The caller's -loglevel is replaced for that run.
   */
  inputStats?: boolean;
  onProgress?: (progress: FfmpegProgress) => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** With `inputStats`: per input file and stream, what ffmpeg read and decoded. */
  inputs?: InputStats[];
}

/** What ffmpeg read (and decoded) from one stream of one input file. */
export interface InputStats {
  file: number;
  stream: number;
  kind: string;
  packets: number;
  /** Frames decoded; null when the stream was copied, not decoded. */
  frames: number | null;
  /** Audio samples decoded. */
  samples: number | null;
}

/** The per-input statistics ffmpeg prints at the verbose level when it ends. */
export function parseInputStats(stderr: string): InputStats[] {
  const stats: InputStats[] = [];
  for (const m of stderr.matchAll(/Input stream #(\d+):(\d+) \((\w+)\): (\d+) packets read \(\d+ bytes\);(?: (\d+) frames decoded(?: \((\d+) samples\))?;)?/g)) {
    stats.push({ file: Number(m[1]), stream: Number(m[2]), kind: m[3]!, packets: Number(m[4]), frames: m[5] === undefined ? null : Number(m[5]), samples: m[6] === undefined ? null : Number(m[6]) });
  }
  return stats;
}

/** The arguments with their log level replaced by verbose with level tags (for the final input statistics). */
function withStats(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if ((args[i] === '-loglevel' || args[i] === '-v') && i + 1 < args.length) {
      i++;
      continue;
    }
    out.push(args[i]!);
  }
  return ['-loglevel', 'repeat+level+verbose', '-nostats', ...out];
}

/** Keeps only the last `limit` characters written to it. */
class TailBuffer {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    // Drop whole chunks only while what remains still fills the limit; then trim the oldest one.
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.limit) this.size -= this.chunks.shift()!.length;
    if (this.size > this.limit) {
      const first = this.chunks[0]!;
      this.chunks[0] = first.slice(this.size - this.limit);
      this.size = this.limit;
    }
  }
  toString(): string {
    return this.chunks.join('');
  }
}

function parseProgressBlock(fields: Map<string, string>): FfmpegProgress {
  const us = Number(fields.get('out_time_us') ?? fields.get('out_time_ms'));
  const speed = Number.parseFloat(fields.get('speed') ?? '');
  const frame = Number(fields.get('frame'));
  return {
    outTimeMs: Number.isFinite(us) && us >= 0 ? us / 1000 : 0,
    speed: Number.isFinite(speed) ? speed : null,
    frame: Number.isFinite(frame) ? frame : null,
    done: fields.get('progress') === 'end',
  };
}

/**
 * Runs a tool to completion. For ffmpeg with `onProgress`, `-progress pipe:1 -nostats` is added and
 * stdout is parsed as progress; otherwise stdout is collected (ffprobe output, bounded by the caller).
 */
export function runTool(tool: Tool, args: string[], options: RunOptions = {}): Promise<RunResult> {
  let bin: string;
  try {
    bin = resolveTool(tool, options.env);
  } catch (error) {
    return Promise.reject(error);
  }
  const wantsProgress = tool === 'ffmpeg' && options.onProgress !== undefined;
  const stats = tool === 'ffmpeg' && options.inputStats === true;
  const fullArgs = tool === 'ffmpeg' ? ['-hide_banner', '-nostdin', ...(wantsProgress ? ['-progress', 'pipe:1', '-nostats'] : []), ...(stats ? withStats(args) : args)] : args;
  const command = [bin, ...fullArgs];
  observers.getStore()?.(command);
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new FfmpegError(command, null, null, '', true));
      return;
    }
    const wrapper = parentDeathWrapper(options.env);
    if (wrapper) {
      // The wrapper would report a missing binary as its own exit code 127; say what is missing instead.
      try {
        accessSync(bin, constants.X_OK);
      } catch {
        reject(new ToolNotFoundError(tool));
        return;
      }
    }
    const [file, argv] = wrapper ? [wrapper, ['--pdeathsig', 'KILL', '--', bin, ...fullArgs]] : [bin, fullArgs];
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
    const stderr = new TailBuffer(STDERR_LIMIT);
    const stdoutChunks: string[] = [];
    let pending = '';
    let fields = new Map<string, string>();
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;

    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => stderr.push(d));
    child.stdout.on('data', (d: string) => {
      if (!wantsProgress) {
        stdoutChunks.push(d);
        return;
      }
      pending += d;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        const eq = line.indexOf('=');
        if (eq <= 0) continue;
        const key = line.slice(0, eq);
        fields.set(key, line.slice(eq + 1));
        if (key === 'progress') {
          options.onProgress!(parseProgressBlock(fields));
          fields = new Map();
        }
      }
    });

    const onAbort = () => {
      aborted = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (error: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(error.code === 'ENOENT' ? new ToolNotFoundError(tool) : error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      const said = stderr.toString();
      if (code === 0 && !aborted && !(tool === 'ffmpeg' && FATAL_DESPITE_EXIT_0.test(said))) {
        resolve({ stdout: stdoutChunks.join(''), stderr: said, ...(stats ? { inputs: parseInputStats(said) } : {}) });
      }
      else reject(new FfmpegError(command, code, signal, said, aborted));
    });
  });
}

export const runFfmpeg = (args: string[], options?: RunOptions) => runTool('ffmpeg', args, options);
export const runFfprobe = (args: string[], options?: RunOptions) => runTool('ffprobe', args, options);

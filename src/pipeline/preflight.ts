// Checks of what can be known before any work: a run that cannot succeed stops here, with one clear line
// (a UsageError; the CLI exits 2), before anything is listed, downloaded or written. Paths are judged by
// what they resolve to (symbolic links followed), never by how they are spelled.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, realpath, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../core/errors.js';
import { PRESETS } from '../core/options.js';
import { resolveTool, runTool, type Tool } from '../ffmpeg/runner.js';
import type { SourceSpec, StorageOptions } from '../options.js';
import { isS3Url } from '../storage/open.js';

export { UsageError };


export function checkPreset(preset: string | undefined): void {
  if (preset !== undefined && !PRESETS.includes(preset)) {
    throw new UsageError(`invalid preset "${preset}": use one of ${PRESETS.join(', ')}`);
  }
}

const checkedTools = new Map<string, Promise<void>>();

/** The tool is found and answers `-version` as ffmpeg/ffprobe do (once per binary and process). */
export async function checkTool(tool: Tool, signal?: AbortSignal): Promise<void> {
  const bin = resolveTool(tool);
  let check = checkedTools.get(bin);
  if (!check) {
    check = runTool(tool, ['-version'], { signal }).then(({ stdout }) => {
      if (!new RegExp(`^${tool} version`, 'm').test(stdout)) throw new UsageError(`${bin} does not look like ${tool} (\`${tool} -version\` said: ${stdout.split('\n')[0]?.slice(0, 80) || 'nothing'})`);
    });
    checkedTools.set(bin, check);
    check.catch(() => checkedTools.delete(bin));
  }
  try {
    await check;
  } catch (error) {
    if (error instanceof UsageError || signal?.aborted) throw error;
    throw new UsageError(`${bin} cannot be run as ${tool}: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** The source is a folder (not a file, not missing); returns where it really is. */
export async function checkLocalSource(source: string): Promise<string> {
  const root = path.resolve(source);
  const info = await stat(root).catch(() => null);
  if (!info) throw new UsageError(`${root}: no such folder`);
  if (!info.isDirectory()) throw new UsageError(`${root}: is a file, not a folder (give the folder that holds the recording's playlists and slices)`);
  return realpath(root);
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/** File systems no output can be written to (their folders cannot be made; some make mkdir spin). */
const PSEUDO_FILE_SYSTEMS = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x73636673, 'securityfs'],
]);

/** Where a path really is: its nearest existing ancestor resolved (links followed), the rest appended. */
async function resolved(target: string): Promise<{ real: string; existing: string; missing: string[] }> {
  const missing: string[] = [];
  let at = path.resolve(target);
  for (;;) {
    try {
      const real = await realpath(at);
      return { real: path.join(real, ...missing), existing: real, missing };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UsageError(`output folder ${target} cannot be reached (${code})`);
      const parent = path.dirname(at);
      if (parent === at) throw new UsageError(`output folder ${target} cannot be reached`);
      missing.unshift(path.basename(at));
      at = parent;
    }
  }
}

/**
 * The output folder exists or can be made, is a folder, can be written to, and is not inside the source
 * folder (outputs there would be listed as input by the next run), judged by where both really are.
 * Nothing is created: `makeOutputDir` does that once the recording is known to hold something.
 */
export async function checkOutputDir(outDir: string, source: SourceSpec): Promise<void> {
  const out = await resolved(outDir);
  if (typeof source === 'string' && !isS3Url(source)) {
    const root = await realpath(path.resolve(source)).catch(() => path.resolve(source));
    if (inside(out.real, root)) {
      throw new UsageError(`output folder ${path.resolve(outDir)} is inside the source folder ${root}${out.real !== path.resolve(outDir) ? ` (it resolves to ${out.real})` : ''}: choose a folder outside the recording`);
    }
  }
  const info = await stat(out.existing);
  if (!info.isDirectory()) throw new UsageError(`output ${out.missing.length ? `folder ${path.resolve(outDir)} cannot be made: ${out.existing} is a file` : `${out.existing} is an existing file, not a folder`}`);
  const fs = PSEUDO_FILE_SYSTEMS.get(Number((await statfs(out.existing)).type));
  if (fs) throw new UsageError(`output folder ${path.resolve(outDir)} cannot be made: ${out.existing} is on ${fs}, a file system of the kernel, not for files`);
  try {
    await access(out.existing, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new UsageError(`output folder ${path.resolve(outDir)} cannot be written to (${(error as NodeJS.ErrnoException).code ?? 'no access'} on ${out.existing})`);
  }
}

/**
 * Makes the output folder, one level at a time (a recursive mkdir can spin forever where a level can never
 * be made), and proves it can be written to with a file created exclusively and removed.
 */
export async function makeOutputDir(outDir: string): Promise<string> {
  const out = await resolved(outDir);
  let at = out.existing;
  try {
    for (const part of out.missing) {
      at = path.join(at, part);
      await mkdir(at).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
    const probe = path.join(at, `.recmerge-write-check-${process.pid}-${randomBytes(4).toString('hex')}`);
    await (await open(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600)).close();
    await rm(probe, { force: true });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new UsageError(`output folder ${path.resolve(outDir)} cannot be written to (${e.code ?? e.message} at ${at})`);
  }
  return realpath(at);
}

/** The upload destination's bucket exists and these credentials reach it. */
export async function checkUpload(destination: string, options: StorageOptions & { signal?: AbortSignal }): Promise<void> {
  if (!isS3Url(destination)) throw new UsageError(`--upload must be an s3://bucket/prefix URL (got ${destination})`);
  const { checkUploadDestination } = await import('../storage/upload.js');
  try {
    await checkUploadDestination(destination, options);
  } catch (error) {
    options.signal?.throwIfAborted();
    const status = (error as { status?: number }).status;
    const why = status === 404 ? ' (no such bucket)' : '';
    throw new UsageError(`cannot upload to ${destination}: ${credentialHint(error)}${why}`);
  }
}

/** The SDK's message for missing credentials, with what to set. */
function credentialHint(error: unknown): string {
  const message = (error as Error).message;
  if ((error as Error).name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return `no S3 credentials were found (${message.split('\n')[0]}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or any source of the AWS credential chain)`;
  }
  return message;
}

/**
 * An S3 source can be read with the credentials at hand: they are found (the AWS chain), before anything
 * is listed. (Whether they may list the prefix shows in the listing itself.)
 */
export async function checkS3Source(source: string, options: StorageOptions & { signal?: AbortSignal }): Promise<void> {
  if (options.s3Client) return;
  const { findCredentials } = await import('../storage/credentials.js');
  try {
    await findCredentials(options);
  } catch (error) {
    options.signal?.throwIfAborted();
    throw new UsageError(`cannot read ${source}: ${credentialHint(error)}`);
  }
}

// Checks of what can be known before any work: a run that cannot succeed stops here, with one clear line
// (a UsageError; the CLI exits 2), before anything is listed, downloaded or written.
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveTool, runTool, type Tool } from './ffmpeg/runner.js';
import type { SourceSpec, StorageOptions } from './options.js';
import { isS3Url } from './storage/open.js';
import { UsageError } from './core/errors.js';

export { UsageError };

/** libx264's presets (`-preset`). */
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow', 'placebo'];

export function checkPreset(preset: string | undefined): void {
  if (preset !== undefined && !X264_PRESETS.includes(preset)) {
    throw new UsageError(`invalid preset "${preset}": use one of ${X264_PRESETS.join(', ')}`);
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

/** The source is a folder (not a file, not missing). */
export async function checkLocalSource(source: string): Promise<string> {
  const root = path.resolve(source);
  const info = await stat(root).catch(() => null);
  if (!info) throw new UsageError(`${root}: no such folder`);
  if (!info.isDirectory()) throw new UsageError(`${root}: is a file, not a folder (give the folder that holds the recording's playlists and slices)`);
  return root;
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/**
 * The output folder exists or can be made, is a folder, can be written to, and is not inside the source
 * folder (outputs there would be listed as input by the next run).
 */
export async function checkOutputDir(outDir: string, source: SourceSpec): Promise<void> {
  const out = path.resolve(outDir);
  if (typeof source === 'string' && !isS3Url(source)) {
    const root = path.resolve(source);
    if (inside(out, root)) throw new UsageError(`output folder ${out} is inside the source folder ${root}: choose a folder outside the recording`);
  }
  const info = await stat(out).catch(() => null);
  if (info && !info.isDirectory()) throw new UsageError(`output ${out} is an existing file, not a folder`);
  try {
    await mkdir(out, { recursive: true });
    const probe = path.join(out, `.recmerge-write-check-${process.pid}-${randomBytes(4).toString('hex')}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new UsageError(`output folder ${out} cannot be written to (${e.code ?? e.message})`);
  }
}

/** The upload destination's bucket exists and these credentials reach it. */
export async function checkUpload(destination: string, options: StorageOptions & { signal?: AbortSignal }): Promise<void> {
  if (!isS3Url(destination)) throw new UsageError(`--upload must be an s3://bucket/prefix URL (got ${destination})`);
  const { checkUploadDestination } = await import('./storage/upload.js');
  try {
    await checkUploadDestination(destination, options);
  } catch (error) {
    options.signal?.throwIfAborted();
    const status = (error as { status?: number }).status;
    const why = status === 404 ? ' (no such bucket)' : '';
    throw new UsageError(`cannot upload to ${destination}: ${(error as Error).message}${why}`);
  }
}

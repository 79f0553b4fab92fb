// What a killed run (kill -9, a crash, a lost machine) leaves behind, and its removal by the next run.
// Every temporary name carries the writer's pid, so files of runs that are still alive are left alone.
import { readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { folderOf } from '../storage/local.js';

/** Temporary outputs, beside their final name. */
export const PARTIAL_MARKER = '.recmerge-partial-';
/** Work folders (concat lists, the placed AAC stream), in the system temp folder. */
export const WORK_PREFIX = 'recmerge-work-';

export const partialName = (finalFile: string, unique: string) =>
  path.join(path.dirname(finalFile), `${PARTIAL_MARKER}${process.pid}-${unique}-${path.basename(finalFile)}`);

export const workPrefix = () => path.join(os.tmpdir(), `${WORK_PREFIX}${process.pid}-`);

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const ownerPid = (name: string, prefix: string) => Number(name.slice(prefix.length).split('-')[0]);

/** Removes partial outputs under `outDir` and work folders whose writing process is gone. */
export async function removeLeftovers(outDir: string): Promise<void> {
  const outputs = await readdir(outDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of outputs) {
    if (e.isFile() && e.name.startsWith(PARTIAL_MARKER) && !alive(ownerPid(e.name, PARTIAL_MARKER))) {
      await rm(path.join(folderOf(e), e.name), { force: true });
    }
  }
  const work = await readdir(os.tmpdir(), { withFileTypes: true }).catch(() => []);
  for (const e of work) {
    if (e.isDirectory() && e.name.startsWith(WORK_PREFIX) && !alive(ownerPid(e.name, WORK_PREFIX))) {
      await rm(path.join(os.tmpdir(), e.name), { recursive: true, force: true });
    }
  }
}
